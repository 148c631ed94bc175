/**
 * Every text on the demo page, one table per language. Keys are the same in
 * each table (a test checks it); `{name}` placeholders are filled in by
 * `t()`. Terms and punctuation follow each readership: Taiwan writes 交握 and
 * 「」, mainland China 握手 and “”.
 *
 * @module
 */

/** Supported languages, in the order the selector shows them. */
export const LANGUAGES = ["zh-Hant", "zh-Hans", "en"];

/** @type {Record<string, Record<string, string>>} */
export const MESSAGES = {
  "en": {
    docTitle: "ws-echo: WebSocket, live",
    title: "WebSocket, live",
    intro:
      "Connect to the echo server, send messages and watch readyState, bufferedAmount and every event as they happen. The server sends back everything you send.",
    language: "Language",
    connection: "Connection",
    options: "Options",
    url: "URL",
    protocol: "Subprotocols",
    connect: "Connect",
    delay: "Server delay (ms)",
    formatJson: "Echo as JSON",
    optionsExplained:
      "These go into the URL: `?delay=` holds each echo on the server for that many milliseconds, `?format=json` wraps each echo as {seq, type, bytes, receivedAt, data}. Subprotocols: comma-separated. Connect again to apply them. The bare URL echoes too: a WebSocket connection to `/` behaves like `/echo`.",
    closeCode: "Code",
    closeReason: "Reason",
    closeButton: "Close",
    reasonBytes: "{bytes}/123 bytes",
    send: "send()",
    textMessage: "Message",
    sendText: "Send",
    resend: "Resend",
    textHint:
      "Enter sends, Shift+Enter adds a line, ↑ and ↓ recall what you sent; JSON is checked and pretty-printed first.",
    "mode": "Format",
    "modeText": "Text",
    "saveName": "Name",
    "save": "Save",
    "saved": "Saved messages",
    "savedSend": "Send “{name}”",
    "savedRemove": "Delete “{name}”",
    "fileBytes": "A file, as binary",
    "sendFile": "Send file",
    "chooseFile": "Choose a file",
    "noFile": "No file chosen",
    "invalid.json": "Not valid JSON, so nothing was sent: {detail}",
    "invalid.saveFull":
      "The browser's storage is full; the message was not saved.",
    "invalid.saveEmpty": "Write a message or a name first.",
    "invalid.saveMany": "At most {max} saved messages: delete one first.",
    "invalid.noFile": "Choose a file first.",
    "invalid.fileSize": "The file is {size}; the page sends files up to {max}.",
    "fileOverLimit":
      "The file is {size}, over this server's MAX_MESSAGE_BYTES of {max}: sending it shows the close it answers with (1009).",
    "export": "Export",
    "import": "Import",
    "replay": "Replay {count} sent",
    "imported":
      "Imported {count} {count:entry|entries} from {name}; Replay sends its {sent} sent {sent:message|messages} on the connection that is open.",
    "code.replay":
      "replays the {count} sent {count:message|messages} of a recording",
    "invalid.import": "{name} is not a recording the page can read: {detail}",
    "invalid.importSize":
      "The file is {size}; the page reads recordings up to {max}.",
    "dataDropped": "{type}: data not kept (the page keeps the newest 32 MiB)",
    "filter": "Filter the messages",
    "filter.text": "Search",
    "filter.regex": "Regex",
    "filter.dir": "Direction",
    "filter.allDirections": "All directions",
    "filter.sent": "↑ Sent",
    "filter.received": "↓ Received",
    "filter.events": "Events",
    "filter.type": "Type",
    "filter.allTypes": "All types",
    "filter.textType": "Text",
    "filter.binaryType": "Binary",
    "filter.count": "{count} matching",
    "invalid.regex": "Not a regular expression: {detail}",

    events: "Messages",
    streamEmpty:
      "Nothing here yet. Press Connect, then Send: each message you send (↑) and its echo (↓) appear here, between the open and the close.",
    clearLog: "Clear",
    "stream.count": "{shown} shown of {total}; the newest 1,000 are kept",
    "stream.countConnecting":
      "{shown} shown of {total}; +{count} CONNECTING in Export",
    "stream.legend": "↑ sent, ↓ received · size · local time ({zone})",
    "stream.legendGap": " · time since the entry before",
    "stream.legendPhone":
      "↑ sent, ↓ received · size · time since the entry before (the first entry: local time, {zone})",
    "stream.new": "↓ {count} new",
    "stream.clock": "Local time",
    "stream.expand": "Expand",
    "stream.collapse": "Collapse",
    "stream.copy": "Copy",
    "stream.copied": "Copied",
    "stream.copyFailed": "Cannot copy here",
    "stream.letGo": "No longer kept: the page keeps the newest 32 MiB",
    "stream.cutAt":
      "{count} {count:character|characters} in all; Copy copies them all",
    "kind.send": "sent",
    "kind.message": "received",
    "kind.open": "open",
    "kind.close": "close",
    "kind.error": "error",
    "kind.note": "note",
    text: "text: {preview}",
    binary: "binary: {hex}",
    jsonEcho: "JSON echo #{seq}, {type}: {preview}",
    openDetail: "protocol={protocol}",
    closeDetail: "code={code} reason={reason} {clean}",
    closeClean: "wasClean=true",
    closeNotClean: "wasClean=false",
    closeWhy: "{close} ({why})",
    closeNeverOpened: "the connection never opened",
    closeDropped: "the connection dropped without a close frame",
    errorDetail: "the connection failed or broke; close follows",
    burstSent:
      "sent {count} × {size} KiB; bufferedAmount right after: {buffered}",
    state: "State",
    "state.none": "No WebSocket yet: press Connect.",
    "state.0":
      "CONNECTING: the object exists and the opening handshake is under way.",
    "state.1": "OPEN: the handshake succeeded; send() delivers messages.",
    "state.2":
      "CLOSING: a Close frame was sent or received; the closing handshake is under way.",
    "state.3": "CLOSED: the connection is closed or could not be opened.",
    "announce.0": "Connecting",
    "announce.1": "Open",
    "announce.2": "Closing",
    "announce.3": "Closed",
    timeline: "Every transition",
    timelineExplained:
      "Each change of readyState is kept here with its time. No event marks CLOSING: it shows when you press Close, but after the server closes (Goodbye) it usually lasts less than one screen refresh, so OPEN goes straight to CLOSED.",
    "unit.bytes": "bytes",
    "unit.ms": "ms",
    "unit.s": "s",
    "unit.min": "min",
    "unit.B": "B",
    peak: "(peak",
    peakEnd: ")",
    bufferedExplained:
      "bufferedAmount: bytes queued by `send()` but not yet handed to the network. Send a burst to see it rise and drain.",
    roundTrip: "Last round trip:",
    more: "More to send",
    hexBytes: "Bytes (hex)",
    sendBinary: "Send binary",
    randomSize: "Random bytes (size in bytes)",
    sendRandom: "Send random bytes",
    burst: "Burst",
    burstCount: "messages",
    sendBurst: "Send burst",
    burstHint:
      "A burst is sent all at once. The server closes a client that leaves more than {buffered} waiting (slow reader, 1008) or sends more than {burst} at once (byte rate, 1008).",
    sendGoodbye: "Send “Goodbye”",
    goodbyeExplained: "“Goodbye” is echoed, then the server closes with 1000.",
    charts: "Charts",
    "chart.rtt": "Round trip time per message (ms)",
    "chart.flow":
      "bufferedAmount (bytes) and messages received per second, over time (s)",
    "chart.keyBuffered": "bufferedAmount",
    "chart.keyRate": "messages/s",
    "chart.rttEmpty": "No echo yet.",
    "chart.rttSummary":
      "{count} {count:echo|echoes}: last {last} ms, median {median} ms, highest {max} ms.",
    "chart.flowEmpty": "Not connected yet.",
    "chart.flowConnecting":
      "Connecting: nothing sampled until the connection opens.",
    "chart.flowNeverOpened":
      "The last connection never opened, so nothing was sampled.",
    "chart.flowSummary":
      "bufferedAmount peaked at {peak} and is {now} now; at most {rate} {rate:message|messages} per second.",
    handshake: "Your handshake",
    handshakeExplained:
      "Opens a second WebSocket to `/inspect` (with the subprotocols above, if any). Its first message describes the opening handshake as the server received it; then the page closes it.",
    inspect: "Inspect my handshake",
    clientIp: "Your IP, as the limits see it",
    subprotocols: "Subprotocols: offered → chosen",
    extensions: "Extensions: offered → accepted",
    requestHeaders: "Request headers",
    limits: "Limits",
    limitName: "Limit",
    limitValue: "Value",
    inspectFailed: "Could not inspect the handshake: {detail}",
    none: "(none)",
    off: "off",
    "limitUnit.bytes": "bytes",
    "limitUnit.bytes/s": "bytes/s",
    "limitUnit.messages": "messages",
    "limitUnit.messages/s": "messages/s",
    "limitUnit.connections": "connections",
    "limitUnit.seconds": "seconds",
    "limitUnit.requests": "requests",
    "limitUnit.requests/s": "requests/s",
    "limitUnit.members": "members",
    "limitUnit.rooms": "rooms",
    explainCode: "what {code} means",
    closeCodes: "Close codes",
    closeCodesExplained:
      "The code in a close event says why the connection ended. The message stream links each close to its row here.",
    "close.1000":
      "Normal closure: the connection did its job (`close()`, or the server after Goodbye or an idle timeout).",
    "close.1001":
      "Going away: the server is shutting down, or the browser is leaving the page.",
    "close.1002":
      "Protocol error: a frame broke RFC 6455. This server sends it for a close frame whose code no one may send (such as 999 or 1005); most other broken frames Deno drops without a close frame (then 1006).",
    "close.1003":
      "Unsupported data: the endpoint got a kind of message it cannot take (binary where only text is understood). This server echoes both kinds, so it sends 1003 only when `/close` asks for it.",
    "close.1005":
      "No status received: the close frame carried no code. Reported by the browser, never sent.",
    "close.1006":
      "Abnormal closure: no close frame arrived, because the connection dropped or never opened (then the page says why above). Reported by the browser, never sent.",
    "close.1007":
      "Invalid payload data: a message did not match its type, such as text that is not valid UTF-8. Deno drops such text without a close frame (then 1006), so this server sends 1007 only when `/close` asks for it.",
    "close.1008":
      "Policy violation: this server uses it for its limits (message rate, byte rate, slow reader); the reason names which.",
    "close.1009":
      "Message too big: the message was larger than the server accepts, and it was not echoed.",
    "close.1010":
      "Mandatory extension: sent by a client whose server did not agree to an extension it needs (the reason names it); a server refuses the handshake instead. A browser never sends it; this server sends it only when `/close` asks for it.",
    "close.1011":
      "Internal error: the server hit an unexpected condition and could not go on.",
    "close.1013":
      "Try again later: the server is overloaded and closed the connection to recover; reconnect after a while.",
    "close.3000-3999":
      "Registered codes: for libraries and frameworks, which register them with IANA; `/close` and this page's `close()` may use them too.",
    "close.4000-4999":
      'Application codes: free for your own protocol; close(4000, "reason") on this page uses them.',
    code: "The code for this connection",
    "code.closing": "readyState: 2 CLOSING, then 3 CLOSED",
    "code.closeAnswer": "the server answers with the same code",
    "code.binary": "binary",
    "code.binaryOf": "binary, {size}",
    "code.randomLimit": "at most 64 KiB per call",
    "code.drains": "bytes queued, drains to 0",
    "code.goodbye": "echoed, then the server closes with 1000",
    "code.firstMessage": "the first message",
    "code.characters": "characters",
    "code.empty":
      "Nothing yet: press Connect and the code it runs appears here; each send() then follows it",
    "code.afterOpen": "then, once open (readyState 1):",
    "code.earlier": "… earlier steps left out: {count}",
    notOpen: "Not open: connect first (readyState must be 1).",
    "invalid.url": "Not a URL. Write it like ws://localhost:9998/echo.",
    "invalid.urlScheme": "A WebSocket URL starts with ws:// or wss://.",
    "invalid.urlHash": "A WebSocket URL cannot have a #fragment.",
    "invalid.protocol":
      "“{value}” is not a valid subprotocol: use letters, digits and !#$%&'*+-.^_`|~, with commas between several.",
    "invalid.protocolTwice": "“{value}” is offered twice; offer each once.",
    "invalid.code":
      "A browser may close with 1000 or 3000-4999 only; {value} is not allowed.",
    "invalid.codeNotNumber":
      "The code is a number: 1000, or 3000-4999 (empty for none).",
    "invalid.reason":
      "The reason is {bytes} bytes of UTF-8; a close reason holds at most 123 (about 41 Chinese characters). Shorten it.",
    "invalid.hex": "Not hex bytes: write pairs such as 00 ff 7f.",
    "invalid.burst": "A burst is 1-{max} messages of 1-64 KiB.",
    "invalid.burstBudget":
      "{total} would leave more than {budget} of echoes on their way ({waiting} are still coming back): the server would close this connection as a slow reader. Send fewer or smaller messages, or wait for the echoes.",
    "failure.dropped": "The connection dropped",
    "failure.droppedBusy":
      "It dropped while {waiting} of echoes were still on their way: most likely a server limit (slow reader or byte rate, close 1008), whose close frame was lost behind the echoes.",
    "failure.title": "Could not connect to {url}",
    "failure.cross-origin":
      "Either nothing answers there (server down, wrong host or port) or the server refused the upgrade; a browser does not say which. The page can ask only its own server why. Open {httpUrl} in a new tab to see what that server answers.",
    "failure.unreachable":
      "Server unreachable: nothing answered at {host}. Is the server running, and are the host and port right?",
    "failure.tls-on-plain":
      "This server sent the page over plain http://, so at {host} it speaks ws://, not wss:// (TLS): try {plainUrl}. For wss://, start it with TLS_CERT_FILE and TLS_KEY_FILE, or put a TLS proxy in front.",
    "failure.not-found":
      "Not found ({status}): this server has no WebSocket endpoint at {path}. Try `/echo`, `/close`, `/inspect`, `/stream`, `/room/NAME` or `/`.",
    "failure.bad-request":
      "Bad request ({status}): the server refused this URL. It said: {body}",
    "failure.asked":
      "Refused as you asked ({status}): `status={status}` is in the URL, so the server refused on purpose. Take it out to connect.",
    "failure.askedRetry":
      "Refused as you asked ({status}): `status={status}` is in the URL, so the server refused on purpose, with Retry-After: {retryAfter} s. Take it out to connect.",
    "failure.origin":
      "Origin refused ({status}): this server does not accept pages from {origin}. It said: {body}",
    "failure.too-many":
      "Too many connections ({status}): your address has as many open as the server allows. Close one and retry. It said: {body}",
    "failure.likely-too-many":
      "Refused before opening, most likely too many connections from your address (at most {perIp} at once, answered with 429); an origin not on the server's list (403) is the other cause.",
    "failure.busy":
      "Server busy ({status}): it refuses new connections for now; retry in a little while. It said: {body}",
    "failure.full":
      "Server full (503): it has as many connections as it allows. Retry in a little while.",
    "failure.shutting-down":
      "The server is shutting down (503). Retry in a little while.",
    "failure.upgrade-refused":
      "The endpoint exists but refused this connection before opening: your origin may not be allowed (403), or your address has too many connections (429).",
    "failure.not-websocket":
      "Not a WebSocket endpoint: {httpUrl} answers plain HTTP ({status}).",
    "failure.status": "The server answered {status}: {body}",
    "failure.checking": "Finding out why…",
    "failure.badOption":
      "Bad request ({status}): the server refused `{option}={value}` in the URL: {why}.",
    "failure.badOptionToo": "And `{option}={value}`: {why}.",
    "failure.serverWords":
      "What the server said (English), with every option it takes",
    "failure.serverSaid": "What the server said (English)",
    "badOption.range": "it takes a whole number {min}-{max}",
    "badOption.closeCode": "it takes a close code a server may send: {codes}",
    "badOption.bytes": "it takes at most {max} bytes of UTF-8",
    "badOption.together": "it applies only together with “{partner}”",
    "badOption.streamOnly": "it applies only to /stream",
    "badOption.roomOnly": "it applies only to /room/NAME",
    "badOption.notRoom": "it does not apply to /room/NAME",
    "badOption.choice": "it takes {choices}",
    "badOption.once": "give it once",
    "badOption.other": "the server's words are below",
    "badOption.empty": "no value",
    "quote.open": "“",
    "quote.close": "”",
    "endpoint": "Endpoint",
    "endpointOther": "(other)",
    "serverOptions": "Failures and server push",
    "openDelay": "Open delay (ms)",
    "status": "Refuse with status",
    "retryAfter": "Retry-After (s)",
    "streamCount": "Messages",
    "streamSize": "Size (bytes)",
    "streamType": "Type",
    "streamInterval": "Interval (ms)",
    "serverOptionsExplained":
      "`status=` refuses the upgrade with that HTTP status (400-599), so you can see how a client and this page handle it; `retry_after=` adds a Retry-After header; `open_delay=` holds the 101 that many milliseconds. `/stream` pushes “Messages” messages of “Size” bytes, one every “Interval” ms (0: as fast as you read), then closes with 1000.",
    "invalid.integer":
      "The server takes a whole number, {min}-{max}; it refuses “{value}” with 400. The URL says the same.",
    "failure.unsafe-port":
      "Browsers refuse to connect to port {port} (Chrome: ERR_UNSAFE_PORT): it belongs to another protocol, so no request was sent. Run the server on another port, such as 9998.",
    "failure.limit":
      "The server closed the connection with {code}: “{reason}”.",
    "room.title": "Room",
    "room.explain":
      "A chat on `/room/NAME`: what you send reaches everyone else in the room, and theirs reaches you. Open the share link in another tab or on a phone. Anyone who knows the name can read and write; nothing is stored.",
    "room.name": "Room name",
    "room.newName": "New name",
    "room.join": "Join",
    "room.leave": "Leave",
    "room.share": "Share link:",
    "room.copy": "Copy link",
    "room.copied": "Copied",
    "room.copyFailed": "Cannot copy here",
    "room.members": "{count} in the room (you included)",
    "room.joining": "Joining…",
    "room.notJoined": "Not in a room",
    "room.left": "Left the room: {code} {reason}",
    "room.you": "you",
    "room.someone": "someone",
    "room.binary": "binary, {bytes} {bytes:byte|bytes}",
    "room.message": "Your line",
    "room.send": "Send to the room",
    "room.badName": "A room name is 1-64 characters of A-Z a-z 0-9 _ -",
  },
  "zh-Hant": {
    docTitle: "ws-echo：WebSocket 即時示範",
    title: "WebSocket 即時示範",
    intro:
      "連線到回聲伺服器，傳送訊息，即時觀察 readyState、bufferedAmount 與每個事件。伺服器會把你傳送的內容原樣送回。",
    language: "語言",
    connection: "連線",
    options: "選項",
    url: "網址",
    protocol: "子協定",
    connect: "連線",
    delay: "伺服器延遲（毫秒）",
    formatJson: "以 JSON 回傳",
    optionsExplained:
      "這些選項會寫進網址：`?delay=` 讓伺服器把每次回傳延後指定的毫秒數，`?format=json` 把每次回傳包成 {seq, type, bytes, receivedAt, data}。子協定以逗號分隔。重新連線後生效。根網址也會回傳：連到 `/` 的 WebSocket 與 `/echo` 相同。",
    closeCode: "代碼",
    closeReason: "原因",
    closeButton: "關閉",
    reasonBytes: "{bytes}/123 位元組",
    send: "send()",
    textMessage: "訊息",
    sendText: "傳送",
    resend: "再傳一次",
    textHint:
      "按 Enter 傳送，Shift+Enter 換行；訊息只有一行時，按 ↑ 與 ↓ 可翻找先前傳送的訊息。選 JSON 時，傳送前會檢查並排版訊息。",
    "mode": "格式",
    "modeText": "文字",
    "saveName": "名稱",
    "save": "儲存",
    "saved": "已儲存的訊息",
    "savedSend": "傳送「{name}」",
    "savedRemove": "刪除「{name}」",
    "fileBytes": "檔案（以二進位傳送）",
    "sendFile": "傳送檔案",
    "chooseFile": "選擇檔案",
    "noFile": "尚未選擇檔案",
    "invalid.json": "不是有效的 JSON，因此沒有傳送：{detail}",
    "invalid.saveFull": "瀏覽器的儲存空間已滿，訊息沒有儲存。",
    "invalid.saveEmpty": "請先寫訊息或名稱。",
    "invalid.saveMany": "最多儲存 {max} 則訊息：請先刪除一則。",
    "invalid.noFile": "請先選擇檔案。",
    "invalid.fileSize": "檔案有 {size}；頁面最多傳送 {max} 的檔案。",
    "fileOverLimit":
      "檔案有 {size}，超過此伺服器的 MAX_MESSAGE_BYTES（{max}）：傳送後可看到伺服器以 1009 關閉連線。",
    "export": "匯出",
    "import": "匯入",
    "replay": "重播 {count} 則已傳送訊息",
    "imported":
      "已從 {name} 匯入 {count} 筆紀錄；「重播」會在目前開啟的連線上傳送其中 {sent} 則已傳送的訊息。",
    "code.replay": "重播紀錄中已傳送的 {count} 則訊息",
    "invalid.import": "{name} 不是頁面能讀取的紀錄：{detail}",
    "invalid.importSize": "檔案有 {size}；頁面最多讀取 {max} 的紀錄。",
    "dataDropped": "{type}：資料未保留（頁面只保留最新的 32 MiB）",
    "filter": "篩選訊息",
    "filter.text": "搜尋",
    "filter.regex": "正規表示式",
    "filter.dir": "方向",
    "filter.allDirections": "所有方向",
    "filter.sent": "↑ 已傳送",
    "filter.received": "↓ 已接收",
    "filter.events": "事件",
    "filter.type": "類型",
    "filter.allTypes": "所有類型",
    "filter.textType": "文字",
    "filter.binaryType": "二進位",
    "filter.count": "{count} 則符合",
    "invalid.regex": "不是正規表示式：{detail}",

    events: "訊息",
    streamEmpty:
      "這裡還沒有訊息。按下「連線」，再按「傳送」：你傳送的每則訊息（↑）和它的回傳（↓）都會出現在這裡，在開啟與關閉之間。",
    clearLog: "清除",
    "stream.count": "顯示 {shown} 則，共 {total} 則（只保留最新的 1,000 則）",
    "stream.countConnecting":
      "顯示 {shown} 則，共 {total} 則；匯出另含 {count} 則 CONNECTING",
    "stream.legend": "↑ 已傳送、↓ 已接收 · 大小 · 本機時間（{zone}）",
    "stream.legendGap": " · 距上一則的時間",
    "stream.legendPhone":
      "↑ 已傳送、↓ 已接收 · 大小 · 距上一則的時間（第一則：本機時間，{zone}）",
    "stream.new": "↓ {count} 則新訊息",
    "stream.clock": "本機時間",
    "stream.expand": "展開",
    "stream.collapse": "收合",
    "stream.copy": "複製",
    "stream.copied": "已複製",
    "stream.copyFailed": "這裡無法複製",
    "stream.letGo": "已不再保留：頁面只保留最新的 32 MiB",
    "stream.cutAt": "共 {count} 個字元；「複製」會複製全部",
    "kind.send": "已傳送",
    "kind.message": "已接收",
    "kind.open": "已開啟",
    "kind.close": "已關閉",
    "kind.error": "錯誤",
    "kind.note": "說明",
    text: "文字：{preview}",
    binary: "二進位：{hex}",
    jsonEcho: "JSON 回傳 #{seq}，{type}：{preview}",
    openDetail: "子協定 {protocol}",
    closeDetail: "代碼 {code}，原因 {reason}，{clean}",
    closeClean: "關閉交握已完成",
    closeNotClean: "關閉交握未完成",
    closeWhy: "{close}（{why}）",
    closeNeverOpened: "連線從未開啟",
    closeDropped: "連線在沒有關閉訊框的情況下中斷",
    errorDetail: "連線失敗或中斷；接著會有 close 事件",
    burstSent: "已傳送 {count} × {size} KiB；之後的 bufferedAmount：{buffered}",
    state: "狀態",
    "state.none": "尚未建立 WebSocket：請按「連線」。",
    "state.0": "CONNECTING（連線中）：物件已建立，正在進行開啟交握。",
    "state.1": "OPEN（已開啟）：交握成功，send() 可以傳送訊息。",
    "state.2": "CLOSING（關閉中）：已送出或收到關閉訊框，關閉交握進行中。",
    "state.3": "CLOSED（已關閉）：連線已關閉或無法建立。",
    "announce.0": "連線中",
    "announce.1": "已開啟",
    "announce.2": "關閉中",
    "announce.3": "已關閉",
    timeline: "每次狀態變化",
    timelineExplained:
      "readyState 的每次變化都連同時間保留在這裡。CLOSING 沒有對應的事件：按下「關閉」時會顯示；但伺服器關閉時（Goodbye），它通常不到一次畫面更新就結束，所以會從 OPEN 直接變成 CLOSED。",
    "unit.bytes": "位元組",
    "unit.ms": "毫秒",
    "unit.s": "秒",
    "unit.min": "分鐘",
    "unit.B": "位元組",
    peak: "（峰值",
    peakEnd: "）",
    bufferedExplained:
      "bufferedAmount：已由 `send()` 排入佇列、尚未交給網路的位元組數。傳送一批訊息，看它上升再降回 0。",
    roundTrip: "上次往返時間：",
    more: "其他傳送方式",
    hexBytes: "位元組（十六進位）",
    sendBinary: "傳送二進位",
    randomSize: "隨機位元組（位元組數）",
    sendRandom: "傳送隨機位元組",
    burst: "批次傳送",
    burstCount: "則訊息",
    sendBurst: "批次傳送",
    burstHint:
      "一批訊息會一次送出。用戶端未讀取的資料超過 {buffered} 時（讀取太慢），或一次送出超過 {burst} 時（位元組速率），伺服器會以 1008 關閉連線。",
    sendGoodbye: "傳送「Goodbye」",
    // Word joiners and a no-break space keep "代碼 1000" on one line.
    goodbyeExplained:
      "伺服器回傳「Goodbye」後，以代\u2060碼\u00a01000 關閉連線。",
    charts: "圖表",
    "chart.rtt": "每則訊息的往返時間（毫秒）",
    "chart.flow":
      "bufferedAmount（位元組）與每秒收到的訊息數，隨時間（秒）變化",
    "chart.keyBuffered": "bufferedAmount",
    "chart.keyRate": "訊息／秒",
    "chart.rttEmpty": "還沒有回傳。",
    "chart.rttSummary":
      "{count} 次回傳：最近 {last} 毫秒，中位數 {median} 毫秒，最高 {max} 毫秒。",
    "chart.flowEmpty": "尚未連線。",
    "chart.flowConnecting": "連線中：連線開啟後才開始取樣。",
    "chart.flowNeverOpened": "上一次連線從未開啟，因此沒有取樣。",
    "chart.flowSummary":
      "bufferedAmount 最高 {peak}，目前 {now}；每秒最多 {rate} 則訊息。",
    handshake: "你的交握",
    handshakeExplained:
      "另開一條連到 `/inspect` 的 WebSocket（若上方填了子協定也會帶上）。它的第一則訊息描述伺服器收到的開啟交握，之後頁面會關閉它。",
    inspect: "檢視我的交握",
    clientIp: "限制所認定的你的 IP",
    subprotocols: "子協定：提出 → 選定",
    extensions: "擴充：提出 → 接受",
    requestHeaders: "請求標頭",
    limits: "限制",
    limitName: "限制",
    limitValue: "數值",
    inspectFailed: "無法檢視交握：{detail}",
    none: "（無）",
    off: "關閉",
    "limitUnit.bytes": "位元組",
    "limitUnit.bytes/s": "位元組／秒",
    "limitUnit.messages": "則訊息",
    "limitUnit.messages/s": "則訊息／秒",
    "limitUnit.connections": "條連線",
    "limitUnit.seconds": "秒",
    "limitUnit.requests": "次請求",
    "limitUnit.requests/s": "次請求／秒",
    "limitUnit.members": "位成員",
    "limitUnit.rooms": "個聊天室",
    explainCode: "{code} 是什麼意思",
    closeCodes: "關閉代碼",
    closeCodesExplained:
      "close 事件中的代碼說明連線為何結束。訊息串中的每次關閉都連結到這裡對應的列。",
    "close.1000":
      "正常關閉：連線已完成任務（呼叫 `close()`，或伺服器在 Goodbye 或閒置逾時後關閉）。",
    "close.1001": "離開：伺服器正在關機，或瀏覽器正要離開頁面。",
    "close.1002":
      "協定錯誤：有訊框違反 RFC 6455。關閉訊框帶著任何一方都不可送出的代碼（例如 999 或 1005）時，本伺服器會送出它；其他大多數錯誤的訊框，Deno 會直接丟棄而不送關閉訊框（此時會是 1006）。",
    "close.1003":
      "不支援的資料：一方收到無法處理的訊息類型（例如只懂文字卻收到二進位）。本伺服器兩種都會回傳，因此只有 `/close` 要求時才會送出 1003。",
    "close.1005": "未收到狀態：關閉訊框沒有代碼。只由瀏覽器回報，不會被送出。",
    "close.1006":
      "異常關閉：沒有收到關閉訊框，因為連線中斷或從未開啟（此時頁面會在上方說明原因）。只由瀏覽器回報，不會被送出。",
    "close.1007":
      "無效的資料：訊息內容與其類型不符，例如不是有效 UTF-8 的文字。Deno 會丟棄這類文字而不送關閉訊框（此時會是 1006），因此本伺服器只有 `/close` 要求時才會送出 1007。",
    "close.1008":
      "違反政策：本伺服器用於各項限制（訊息速率、位元組速率、讀取太慢），原因會說明是哪一項。",
    "close.1009": "訊息過大：訊息超過伺服器接受的大小，因此沒有回傳。",
    "close.1010":
      "必要的擴充：由用戶端送出，表示伺服器沒有同意它需要的擴充（原因會寫出是哪一個）；伺服器則會直接拒絕交握。瀏覽器從不送出它；本伺服器只有 `/close` 要求時才會送出。",
    "close.1011": "內部錯誤：伺服器遇到意外狀況，無法繼續。",
    "close.1013":
      "稍後再試：伺服器負載過高，為了恢復而關閉連線；請過一會兒再連線。",
    "close.3000-3999":
      "已註冊的代碼：供函式庫與框架使用，向 IANA 註冊；`/close` 與本頁的 `close()` 也可以使用。",
    "close.4000-4999":
      '應用程式自訂的代碼：可自由用於你自己的協定；本頁的 close(4000, "reason") 就使用它們。',
    code: "這次連線的程式碼",
    "code.closing": "readyState：先是 2 CLOSING，再變成 3 CLOSED",
    "code.closeAnswer": "伺服器以相同的代碼回應",
    "code.binary": "二進位",
    "code.binaryOf": "二進位，{size}",
    "code.randomLimit": "每次呼叫最多 64 KiB",
    "code.drains": "佇列中的位元組數，會降回 0",
    "code.goodbye": "回傳後，伺服器以 1000 關閉連線",
    "code.firstMessage": "第一則訊息",
    "code.characters": "個字元",
    "code.empty":
      "尚無內容：按下「連線」，這裡會顯示它執行的程式碼，之後每次 send() 接在後面",
    "code.afterOpen": "接著，連線開啟後（readyState 1）：",
    "code.earlier": "……省略了較早的 {count} 個步驟",
    notOpen: "尚未開啟：請先連線（readyState 必須是 1）。",
    "invalid.url": "這不是網址。請寫成 ws://localhost:9998/echo 這樣。",
    "invalid.urlScheme": "WebSocket 網址以 ws:// 或 wss:// 開頭。",
    "invalid.urlHash": "WebSocket 網址不能有 #片段。",
    "invalid.protocol":
      "「{value}」不是有效的子協定：請用英文字母、數字與 !#$%&'*+-.^_`|~，多個之間以逗號分隔。",
    "invalid.protocolTwice": "「{value}」提出了兩次；每個只要提出一次。",
    "invalid.code": "瀏覽器只能以 1000 或 3000-4999 關閉；{value} 不允許。",
    "invalid.codeNotNumber":
      "代碼是數字：1000 或 3000-4999（留空表示不帶代碼）。",
    "invalid.reason":
      "原因有 {bytes} 位元組（UTF-8）；關閉原因最多 123 位元組（約 41 個中文字）。請縮短。",
    "invalid.hex": "不是十六進位位元組：請寫成 00 ff 7f 這樣的兩位一組。",
    "invalid.burst": "一批是 1-{max} 則、每則 1-64 KiB 的訊息。",
    "invalid.burstBudget":
      "{total} 會讓傳回途中的資料超過 {budget}（目前還有 {waiting} 正在傳回）：伺服器會把這條連線當作讀取太慢而關閉。請減少訊息數量或大小，或等回傳完成。",
    "failure.dropped": "連線中斷了",
    "failure.droppedBusy":
      "中斷時還有 {waiting} 的回傳正在途中：最可能是觸發了伺服器的限制（讀取太慢或位元組速率，close 1008），而它的關閉訊框卡在回傳資料後面遺失了。",
    "failure.title": "無法連線到 {url}",
    "failure.cross-origin":
      "可能那裡沒有伺服器回應（伺服器沒開，或主機、連接埠不對），也可能伺服器拒絕了升級；瀏覽器不會說是哪一種。頁面只能向自己的伺服器查明原因。請在新分頁開啟 {httpUrl}，看看那台伺服器怎麼回應。",
    "failure.unreachable":
      "無法連上伺服器：{host} 沒有回應。伺服器有在執行嗎？主機與連接埠正確嗎？",
    "failure.tls-on-plain":
      "這個伺服器以一般的 http:// 傳送本頁，所以在 {host} 它說的是 ws://，不是 wss://（TLS）：請改用 {plainUrl}。要用 wss://，請以 TLS_CERT_FILE 與 TLS_KEY_FILE 啟動它，或在前面放一個 TLS 代理。",
    "failure.not-found":
      "找不到（{status}）：這台伺服器在 {path} 沒有 WebSocket 端點。請試試 `/echo`、`/close`、`/inspect`、`/stream`、`/room/NAME` 或 `/`。",
    "failure.bad-request":
      "錯誤的請求（{status}）：伺服器拒絕了這個網址。它說：{body}",
    "failure.asked":
      "依你的要求拒絕（{status}）：網址中有 `status={status}`，伺服器是刻意拒絕的。拿掉它就能連線。",
    "failure.askedRetry":
      "依你的要求拒絕（{status}）：網址中有 `status={status}`，伺服器是刻意拒絕的，並附上 Retry-After：{retryAfter} 秒。拿掉它就能連線。",
    "failure.origin":
      "來源遭拒（{status}）：這台伺服器不接受來自 {origin} 的頁面。它說：{body}",
    "failure.too-many":
      "連線過多（{status}）：你的位址開啟的連線已達伺服器上限。請關閉一條後重試。它說：{body}",
    "failure.likely-too-many":
      "開啟前就被拒絕，最可能是你的位址連線過多（同時最多 {perIp} 條，以 429 回應）；另一個可能是頁面來源不在伺服器的允許清單上（403）。",
    "failure.busy":
      "伺服器忙碌（{status}）：目前不接受新的連線，請稍後重試。它說：{body}",
    "failure.full": "伺服器已滿（503）：連線數已達上限。請稍後重試。",
    "failure.shutting-down": "伺服器正在關機（503）。請稍後重試。",
    "failure.upgrade-refused":
      "端點存在，但在開啟前拒絕了這條連線：可能是頁面來源不被允許（403），或你的位址連線過多（429）。",
    "failure.not-websocket":
      "不是 WebSocket 端點：{httpUrl} 以一般 HTTP 回應（{status}）。",
    "failure.status": "伺服器回應 {status}：{body}",
    "failure.checking": "正在查明原因…",
    "failure.badOption":
      "錯誤的請求（{status}）：伺服器拒絕了網址中的 `{option}={value}`：{why}。",
    "failure.badOptionToo": "還有 `{option}={value}`：{why}。",
    "failure.serverWords": "伺服器的原話（英文）與它接受的全部選項",
    "failure.serverSaid": "伺服器的原話（英文）",
    "badOption.range": "它只接受 {min}-{max} 的整數",
    "badOption.closeCode": "它只接受伺服器可以傳送的關閉代碼：{codes}",
    "badOption.bytes": "它最多 {max} 位元組（UTF-8）",
    "badOption.together": "它只能與「{partner}」一起使用",
    "badOption.streamOnly": "它只適用於 /stream",
    "badOption.roomOnly": "它只適用於 /room/NAME",
    "badOption.notRoom": "它不適用於 /room/NAME",
    "badOption.choice": "它只接受 {choices}",
    "badOption.once": "它只能出現一次",
    "badOption.other": "伺服器的原話在下方",
    "badOption.empty": "不帶值",
    "quote.open": "「",
    "quote.close": "」",
    "endpoint": "端點",
    "endpointOther": "（其他）",
    "serverOptions": "失敗與伺服器推送",
    "openDelay": "開啟延遲（毫秒）",
    "status": "以狀態碼拒絕",
    "retryAfter": "Retry-After（秒）",
    "streamCount": "訊息數",
    "streamSize": "大小（位元組）",
    "streamType": "類型",
    "streamInterval": "間隔（毫秒）",
    "serverOptionsExplained":
      "`status=` 讓伺服器以該 HTTP 狀態碼（400-599）拒絕升級，方便觀察用戶端與本頁如何處理；`retry_after=` 加上 Retry-After 標頭；`open_delay=` 讓 101 回應延後指定的毫秒數。`/stream` 每隔「間隔」毫秒推送一則「大小」位元組的訊息，共「訊息數」則（間隔 0：依你讀取的速度），之後以 1000 關閉。",
    "invalid.integer":
      "伺服器只接受 {min}-{max} 的整數；「{value}」會被以 400 拒絕。網址裡寫的也是這個值。",
    "failure.unsafe-port":
      "瀏覽器拒絕連線到連接埠 {port}（Chrome：ERR_UNSAFE_PORT）：它屬於其他協定，因此請求根本沒有送出。請讓伺服器改用其他連接埠，例如 9998。",
    "failure.limit": "伺服器以 {code} 關閉連線：「{reason}」。",
    "room.title": "聊天室",
    "room.explain":
      "`/room/NAME` 上的聊天：你送出的訊息會傳給聊天室裡的其他人，他們的也會傳給你。在另一個分頁或手機上開啟分享連結。知道名稱的人都能讀寫；伺服器不保存任何訊息。",
    "room.name": "聊天室名稱",
    "room.newName": "換個名稱",
    "room.join": "加入",
    "room.leave": "離開",
    "room.share": "分享連結：",
    "room.copy": "複製連結",
    "room.copied": "已複製",
    "room.copyFailed": "這裡無法複製",
    "room.members": "聊天室裡有 {count} 人（包括你）",
    "room.joining": "加入中…",
    "room.notJoined": "尚未加入聊天室",
    "room.left": "已離開聊天室：{code} {reason}",
    "room.you": "你",
    "room.someone": "其他人",
    "room.binary": "二進位，{bytes} 位元組",
    "room.message": "你要說的話",
    "room.send": "傳給聊天室",
    "room.badName": "聊天室名稱是 1 到 64 個 A-Z a-z 0-9 _ - 字元",
  },
  "zh-Hans": {
    docTitle: "ws-echo：WebSocket 实时演示",
    title: "WebSocket 实时演示",
    intro:
      "连接到回显服务器，发送消息，实时观察 readyState、bufferedAmount 和每个事件。服务器会把你发送的内容原样发回。",
    language: "语言",
    connection: "连接",
    options: "选项",
    url: "网址",
    protocol: "子协议",
    connect: "连接",
    delay: "服务器延迟（毫秒）",
    formatJson: "以 JSON 回显",
    optionsExplained:
      "这些选项会写进网址：`?delay=` 让服务器把每次回显推迟指定的毫秒数，`?format=json` 把每次回显包装成 {seq, type, bytes, receivedAt, data}。子协议以逗号分隔。重新连接后生效。根网址也会回显：连到 `/` 的 WebSocket 与 `/echo` 相同。",
    closeCode: "关闭码",
    closeReason: "原因",
    closeButton: "关闭",
    reasonBytes: "{bytes}/123 字节",
    send: "send()",
    textMessage: "消息",
    sendText: "发送",
    resend: "再发一次",
    textHint:
      "按 Enter 发送，Shift+Enter 换行；消息只有一行时，按 ↑ 和 ↓ 可以翻找之前发送的消息。选 JSON 时，发送前会检查并格式化消息。",
    "mode": "格式",
    "modeText": "文本",
    "saveName": "名称",
    "save": "保存",
    "saved": "已保存的消息",
    "savedSend": "发送“{name}”",
    "savedRemove": "删除“{name}”",
    "fileBytes": "文件（以二进制发送）",
    "sendFile": "发送文件",
    "chooseFile": "选择文件",
    "noFile": "未选择文件",
    "invalid.json": "不是有效的 JSON，因此没有发送：{detail}",
    "invalid.saveFull": "浏览器的存储空间已满，消息没有保存。",
    "invalid.saveEmpty": "请先写消息或名称。",
    "invalid.saveMany": "最多保存 {max} 条消息：请先删除一条。",
    "invalid.noFile": "请先选择文件。",
    "invalid.fileSize": "文件有 {size}；页面最多发送 {max} 的文件。",
    "fileOverLimit":
      "文件有 {size}，超过此服务器的 MAX_MESSAGE_BYTES（{max}）：发送后可看到服务器以 1009 关闭连接。",
    "export": "导出",
    "import": "导入",
    "replay": "重放 {count} 条已发送消息",
    "imported":
      "已从 {name} 导入 {count} 条记录；“重放”会在当前打开的连接上发送其中 {sent} 条已发送的消息。",
    "code.replay": "重放记录中已发送的 {count} 条消息",
    "invalid.import": "{name} 不是页面能读取的记录：{detail}",
    "invalid.importSize": "文件有 {size}；页面最多读取 {max} 的记录。",
    "dataDropped": "{type}：数据未保留（页面只保留最新的 32 MiB）",
    "filter": "筛选消息",
    "filter.text": "搜索",
    "filter.regex": "正则表达式",
    "filter.dir": "方向",
    "filter.allDirections": "所有方向",
    "filter.sent": "↑ 已发送",
    "filter.received": "↓ 已接收",
    "filter.events": "事件",
    "filter.type": "类型",
    "filter.allTypes": "所有类型",
    "filter.textType": "文本",
    "filter.binaryType": "二进制",
    "filter.count": "{count} 条符合",
    "invalid.regex": "不是正则表达式：{detail}",

    events: "消息",
    streamEmpty:
      "这里还没有消息。按下“连接”，再按“发送”：你发送的每条消息（↑）和它的回显（↓）都会出现在这里，在打开与关闭之间。",
    clearLog: "清除",
    "stream.count": "显示 {shown} 条，共 {total} 条（只保留最新的 1,000 条）",
    "stream.countConnecting":
      "显示 {shown} 条，共 {total} 条；导出另含 {count} 条 CONNECTING",
    "stream.legend": "↑ 已发送、↓ 已接收 · 大小 · 本地时间（{zone}）",
    "stream.legendGap": " · 距上一条的时间",
    "stream.legendPhone":
      "↑ 已发送、↓ 已接收 · 大小 · 距上一条的时间（第一条：本地时间，{zone}）",
    "stream.new": "↓ {count} 条新消息",
    "stream.clock": "本地时间",
    "stream.expand": "展开",
    "stream.collapse": "收起",
    "stream.copy": "复制",
    "stream.copied": "已复制",
    "stream.copyFailed": "这里无法复制",
    "stream.letGo": "已不再保留：页面只保留最新的 32 MiB",
    "stream.cutAt": "共 {count} 个字符；“复制”会复制全部",
    "kind.send": "已发送",
    "kind.message": "已接收",
    "kind.open": "已打开",
    "kind.close": "已关闭",
    "kind.error": "错误",
    "kind.note": "说明",
    text: "文本：{preview}",
    binary: "二进制：{hex}",
    jsonEcho: "JSON 回显 #{seq}，{type}：{preview}",
    openDetail: "子协议 {protocol}",
    closeDetail: "关闭码 {code}，原因 {reason}，{clean}",
    closeClean: "关闭握手已完成",
    closeNotClean: "关闭握手未完成",
    closeWhy: "{close}（{why}）",
    closeNeverOpened: "连接从未打开",
    closeDropped: "连接在没有关闭帧的情况下断开",
    errorDetail: "连接失败或中断；随后会有 close 事件",
    burstSent: "已发送 {count} × {size} KiB；之后的 bufferedAmount：{buffered}",
    state: "状态",
    "state.none": "尚未创建 WebSocket：请按“连接”。",
    "state.0": "CONNECTING（连接中）：对象已创建，正在进行打开握手。",
    "state.1": "OPEN（已打开）：握手成功，send() 可以发送消息。",
    "state.2": "CLOSING（关闭中）：已发出或收到关闭帧，关闭握手进行中。",
    "state.3": "CLOSED（已关闭）：连接已关闭或无法建立。",
    "announce.0": "连接中",
    "announce.1": "已打开",
    "announce.2": "关闭中",
    "announce.3": "已关闭",
    timeline: "每次状态变化",
    timelineExplained:
      "readyState 的每次变化都连同时间保留在这里。CLOSING 没有对应的事件：按下“关闭”时会显示；但服务器关闭时（Goodbye），它通常不到一次屏幕刷新就结束，所以会从 OPEN 直接变成 CLOSED。",
    "unit.bytes": "字节",
    "unit.ms": "毫秒",
    "unit.s": "秒",
    "unit.min": "分钟",
    "unit.B": "字节",
    peak: "（峰值",
    peakEnd: "）",
    bufferedExplained:
      "bufferedAmount：已由 `send()` 排入队列、尚未交给网络的字节数。发送一批消息，看它上升再降回 0。",
    roundTrip: "上次往返时间：",
    more: "其他发送方式",
    hexBytes: "字节（十六进制）",
    sendBinary: "发送二进制",
    randomSize: "随机字节（字节数）",
    sendRandom: "发送随机字节",
    burst: "批量发送",
    burstCount: "条消息",
    sendBurst: "批量发送",
    burstHint:
      "一批消息会一次发出。客户端未读取的数据超过 {buffered} 时（读取太慢），或一次发出超过 {burst} 时（字节速率），服务器会以 1008 关闭连接。",
    sendGoodbye: "发送“Goodbye”",
    // Word joiners and a no-break space keep "关闭码 1000" on one line (it
    // broke as "关闭 / 码" at 1280 px).
    goodbyeExplained:
      "服务器回显“Goodbye”后，以关\u2060闭\u2060码\u00a01000 关闭连接。",
    charts: "图表",
    "chart.rtt": "每条消息的往返时间（毫秒）",
    "chart.flow": "bufferedAmount（字节）和每秒收到的消息数，随时间（秒）变化",
    "chart.keyBuffered": "bufferedAmount",
    "chart.keyRate": "消息/秒",
    "chart.rttEmpty": "还没有回显。",
    "chart.rttSummary":
      "{count} 次回显：最近 {last} 毫秒，中位数 {median} 毫秒，最高 {max} 毫秒。",
    "chart.flowEmpty": "尚未连接。",
    "chart.flowConnecting": "连接中：连接打开后才开始采样。",
    "chart.flowNeverOpened": "上一次连接从未打开，因此没有采样。",
    "chart.flowSummary":
      "bufferedAmount 最高 {peak}，当前 {now}；每秒最多 {rate} 条消息。",
    handshake: "你的握手",
    handshakeExplained:
      "另开一条连接到 `/inspect` 的 WebSocket（如果上面填写了子协议也会带上）。它的第一条消息描述服务器收到的打开握手，之后页面会关闭它。",
    inspect: "查看我的握手",
    clientIp: "限制所认定的你的 IP",
    subprotocols: "子协议：提出 → 选定",
    extensions: "扩展：提出 → 接受",
    requestHeaders: "请求头",
    limits: "限制",
    limitName: "限制",
    limitValue: "数值",
    inspectFailed: "无法查看握手：{detail}",
    none: "（无）",
    off: "关闭",
    "limitUnit.bytes": "字节",
    "limitUnit.bytes/s": "字节/秒",
    "limitUnit.messages": "条消息",
    "limitUnit.messages/s": "条消息/秒",
    "limitUnit.connections": "个连接",
    "limitUnit.seconds": "秒",
    "limitUnit.requests": "次请求",
    "limitUnit.requests/s": "次请求/秒",
    "limitUnit.members": "位成员",
    "limitUnit.rooms": "个聊天室",
    explainCode: "{code} 是什么意思",
    closeCodes: "关闭码",
    closeCodesExplained:
      "close 事件中的关闭码说明连接为何结束。消息流中的每次关闭都链接到这里对应的行。",
    "close.1000":
      "正常关闭：连接已完成任务（调用 `close()`，或服务器在 Goodbye 或空闲超时后关闭）。",
    "close.1001": "离开：服务器正在关机，或浏览器正要离开页面。",
    "close.1002":
      "协议错误：有帧违反了 RFC 6455。关闭帧带有任何一方都不能发送的关闭码（例如 999 或 1005）时，本服务器会发送它；其他大多数错误的帧，Deno 会直接丢弃而不发送关闭帧（此时是 1006）。",
    "close.1003":
      "不支持的数据：一方收到了无法处理的消息类型（例如只懂文本却收到二进制）。本服务器两种都会回显，因此只有 `/close` 要求时才会发送 1003。",
    "close.1005": "未收到状态：关闭帧没有关闭码。只由浏览器报告，不会被发送。",
    "close.1006":
      "异常关闭：没有收到关闭帧，因为连接断开或从未打开（此时页面会在上方说明原因）。只由浏览器报告，不会被发送。",
    "close.1007":
      "无效的数据：消息内容与其类型不符，例如不是有效 UTF-8 的文本。Deno 会丢弃这类文本而不发送关闭帧（此时是 1006），因此本服务器只有 `/close` 要求时才会发送 1007。",
    "close.1008":
      "违反策略：本服务器用于各项限制（消息速率、字节速率、读取太慢），原因会说明是哪一项。",
    "close.1009": "消息过大：消息超过服务器接受的大小，因此没有回显。",
    "close.1010":
      "必需的扩展：由客户端发送，表示服务器没有同意它需要的扩展（原因会写出是哪一个）；服务器则会直接拒绝握手。浏览器从不发送它；本服务器只有 `/close` 要求时才会发送。",
    "close.1011": "内部错误：服务器遇到意外情况，无法继续。",
    "close.1013":
      "稍后再试：服务器负载过高，为了恢复而关闭连接；请过一会儿再连接。",
    "close.3000-3999":
      "已注册的关闭码：供库和框架使用，向 IANA 注册；`/close` 和本页的 `close()` 也可以使用。",
    "close.4000-4999":
      '应用程序自定义的关闭码：可以自由用于你自己的协议；本页的 close(4000, "reason") 就使用它们。',
    code: "这次连接的代码",
    "code.closing": "readyState：先是 2 CLOSING，再变成 3 CLOSED",
    "code.closeAnswer": "服务器以相同的关闭码回应",
    "code.binary": "二进制",
    "code.binaryOf": "二进制，{size}",
    "code.randomLimit": "每次调用最多 64 KiB",
    "code.drains": "队列中的字节数，会降回 0",
    "code.goodbye": "回显后，服务器以 1000 关闭连接",
    "code.firstMessage": "第一条消息",
    "code.characters": "个字符",
    "code.empty":
      "尚无内容：按下“连接”，这里会显示它执行的代码，之后每次 send() 接在后面",
    "code.afterOpen": "接着，连接打开后（readyState 1）：",
    "code.earlier": "……省略了较早的 {count} 个步骤",
    notOpen: "尚未打开：请先连接（readyState 必须是 1）。",
    "invalid.url": "这不是网址。请写成 ws://localhost:9998/echo 这样。",
    "invalid.urlScheme": "WebSocket 网址以 ws:// 或 wss:// 开头。",
    "invalid.urlHash": "WebSocket 网址不能带 #片段。",
    "invalid.protocol":
      "“{value}”不是有效的子协议：请使用英文字母、数字和 !#$%&'*+-.^_`|~，多个之间用逗号分隔。",
    "invalid.protocolTwice": "“{value}”提出了两次；每个只需提出一次。",
    "invalid.code": "浏览器只能以 1000 或 3000-4999 关闭；{value} 不允许。",
    "invalid.codeNotNumber":
      "关闭码是数字：1000 或 3000-4999（留空表示不带关闭码）。",
    "invalid.reason":
      "原因有 {bytes} 字节（UTF-8）；关闭原因最多 123 字节（约 41 个汉字）。请缩短。",
    "invalid.hex": "不是十六进制字节：请写成 00 ff 7f 这样的两位一组。",
    "invalid.burst": "一批是 1-{max} 条、每条 1-64 KiB 的消息。",
    "invalid.burstBudget":
      "{total} 会让发回途中的数据超过 {budget}（目前还有 {waiting} 尚未发回）：服务器会把这个连接当作读取太慢而关闭。请减少消息数量或大小，或等回显完成。",
    "failure.dropped": "连接断开了",
    "failure.droppedBusy":
      "断开时还有 {waiting} 的回显数据在途中：最可能是触发了服务器的限制（读取太慢或字节速率，close 1008），而它的关闭帧卡在这些数据后面丢失了。",
    "failure.title": "无法连接到 {url}",
    "failure.cross-origin":
      "可能那里没有服务器响应（服务器没开，或主机、端口不对），也可能服务器拒绝了升级；浏览器不会说是哪一种。页面只能向自己的服务器查明原因。请在新标签页打开 {httpUrl}，看看那台服务器怎么回应。",
    "failure.unreachable":
      "无法连上服务器：{host} 没有响应。服务器在运行吗？主机和端口正确吗？",
    "failure.tls-on-plain":
      "这个服务器以普通的 http:// 发送本页，所以在 {host} 它使用的是 ws://，不是 wss://（TLS）：请改用 {plainUrl}。要用 wss://，请用 TLS_CERT_FILE 和 TLS_KEY_FILE 启动它，或在前面放一个 TLS 代理。",
    "failure.not-found":
      "未找到（{status}）：这台服务器在 {path} 没有 WebSocket 端点。请试试 `/echo`、`/close`、`/inspect`、`/stream`、`/room/NAME` 或 `/`。",
    "failure.bad-request":
      "错误的请求（{status}）：服务器拒绝了这个网址。它说：{body}",
    "failure.asked":
      "按你的要求拒绝（{status}）：网址中有 `status={status}`，服务器是故意拒绝的。去掉它就能连接。",
    "failure.askedRetry":
      "按你的要求拒绝（{status}）：网址中有 `status={status}`，服务器是故意拒绝的，并附上 Retry-After：{retryAfter} 秒。去掉它就能连接。",
    "failure.origin":
      "来源被拒（{status}）：这台服务器不接受来自 {origin} 的页面。它说：{body}",
    "failure.too-many":
      "连接过多（{status}）：你的地址打开的连接已达服务器上限。请关闭一个后重试。它说：{body}",
    "failure.likely-too-many":
      "打开前就被拒绝，最可能是你的地址连接过多（同时最多 {perIp} 个，以 429 响应）；另一个可能是页面来源不在服务器的允许列表上（403）。",
    "failure.busy":
      "服务器繁忙（{status}）：暂时不接受新的连接，请稍后重试。它说：{body}",
    "failure.full": "服务器已满（503）：连接数已达上限。请稍后重试。",
    "failure.shutting-down": "服务器正在关机（503）。请稍后重试。",
    "failure.upgrade-refused":
      "端点存在，但在打开前拒绝了这个连接：可能是页面来源不被允许（403），或你的地址连接过多（429）。",
    "failure.not-websocket":
      "不是 WebSocket 端点：{httpUrl} 以普通 HTTP 响应（{status}）。",
    "failure.status": "服务器响应 {status}：{body}",
    "failure.checking": "正在查明原因…",
    "failure.badOption":
      "错误的请求（{status}）：服务器拒绝了网址中的 `{option}={value}`：{why}。",
    "failure.badOptionToo": "还有 `{option}={value}`：{why}。",
    "failure.serverWords": "服务器的原话（英文）及它接受的全部选项",
    "failure.serverSaid": "服务器的原话（英文）",
    "badOption.range": "它只接受 {min}-{max} 的整数",
    "badOption.closeCode": "它只接受服务器可以发送的关闭码：{codes}",
    "badOption.bytes": "它最多 {max} 字节（UTF-8）",
    "badOption.together": "它只能与“{partner}”一起使用",
    "badOption.streamOnly": "它只适用于 /stream",
    "badOption.roomOnly": "它只适用于 /room/NAME",
    "badOption.notRoom": "它不适用于 /room/NAME",
    "badOption.choice": "它只接受 {choices}",
    "badOption.once": "它只能出现一次",
    "badOption.other": "服务器的原话在下方",
    "badOption.empty": "不带值",
    "quote.open": "“",
    "quote.close": "”",
    "endpoint": "端点",
    "endpointOther": "（其他）",
    "serverOptions": "失败与服务器推送",
    "openDelay": "打开延迟（毫秒）",
    "status": "以状态码拒绝",
    "retryAfter": "Retry-After（秒）",
    "streamCount": "消息数",
    "streamSize": "大小（字节）",
    "streamType": "类型",
    "streamInterval": "间隔（毫秒）",
    "serverOptionsExplained":
      "`status=` 让服务器以该 HTTP 状态码（400-599）拒绝升级，方便观察客户端和本页如何处理；`retry_after=` 加上 Retry-After 头；`open_delay=` 让 101 响应推迟指定的毫秒数。`/stream` 每隔“间隔”毫秒推送一条“大小”字节的消息，共“消息数”条（间隔 0：按你读取的速度），之后以 1000 关闭。",
    "invalid.integer":
      "服务器只接受 {min}-{max} 的整数；“{value}”会被以 400 拒绝。网址里写的也是这个值。",
    "failure.unsafe-port":
      "浏览器拒绝连接到端口 {port}（Chrome：ERR_UNSAFE_PORT）：它属于其他协议，因此请求根本没有发出。请让服务器改用其他端口，例如 9998。",
    "failure.limit": "服务器以 {code} 关闭连接：“{reason}”。",
    "room.title": "聊天室",
    "room.explain":
      "`/room/NAME` 上的聊天：你发送的消息会传给聊天室里的其他人，他们的也会传给你。在另一个标签页或手机上打开分享链接。知道名称的人都能读写；服务器不保存任何消息。",
    "room.name": "聊天室名称",
    "room.newName": "换个名称",
    "room.join": "加入",
    "room.leave": "离开",
    "room.share": "分享链接：",
    "room.copy": "复制链接",
    "room.copied": "已复制",
    "room.copyFailed": "这里无法复制",
    "room.members": "聊天室里有 {count} 人（包括你）",
    "room.joining": "加入中…",
    "room.notJoined": "尚未加入聊天室",
    "room.left": "已离开聊天室：{code} {reason}",
    "room.you": "你",
    "room.someone": "其他人",
    "room.binary": "二进制，{bytes} 字节",
    "room.message": "你要说的话",
    "room.send": "发送到聊天室",
    "room.badName": "聊天室名称是 1 到 64 个 A-Z a-z 0-9 _ - 字符",
  },
};

/**
 * The page language a language tag stands for, case-insensitively: Chinese
 * written in Taiwan, Hong Kong or Macau, or any `zh-Hant…`, is `zh-Hant`;
 * any other Chinese (`zh`, `zh-CN`, `zh-SG`, `zh-Hans…`) `zh-Hans`; any
 * English `en`. Undefined for anything else.
 * @param {string} tag e.g. "zh-TW", "en-GB", "zh-hant"
 * @returns {string | undefined}
 */
export function languageOf(tag) {
  const lower = tag.toLowerCase();
  if (/^zh-(hant|tw|hk|mo)(-|$)/.test(lower)) return "zh-Hant";
  if (lower === "zh" || lower.startsWith("zh-")) return "zh-Hans";
  if (lower === "en" || lower.startsWith("en-")) return "en";
  return undefined;
}

/**
 * Picks the page language: the one asked for in the URL, else the saved
 * choice, else the browser's preference; each mapped by `languageOf()`.
 * @param {string | null} saved `?lang=` or the saved choice
 * @param {readonly string[]} preferred e.g. navigator.languages
 */
export function pickLanguage(saved, preferred) {
  const asked = saved ? languageOf(saved) : undefined;
  if (asked) return asked;
  for (const tag of preferred) {
    const language = languageOf(tag);
    if (language) return language;
  }
  return "en";
}

/** Cached Intl.PluralRules per page language. */
const pluralRules = new Map();

/**
 * A count as Intl.PluralRules reads it: a number as it is, a count already
 * formatted for the page ("1,000") by its digits.
 * @param {unknown} value
 */
function countOf(value) {
  return typeof value === "number"
    ? value
    : Number(String(value).replace(/[^\d.]/g, ""));
}

/**
 * A text of the tables with its placeholders filled: `{name}` by
 * `values[name]`, and `{name:one|other}` by the form for that value's plural
 * category in `language` (Intl.PluralRules), so English says "1 echo" and
 * "2 echoes" ("{count} {count:echo|echoes}"). Chinese has no plural forms:
 * its texts need none, and a form there would pick `other`.
 * @param {string} text a text of {@link MESSAGES}
 * @param {Record<string, unknown>} values
 * @param {string} language "en", "zh-Hant" or "zh-Hans"
 * @example Filling a plural
 * ```js
 * fill("{n} {n:echo|echoes}", { n: 1 }, "en"); // "1 echo"
 * ```
 */
export function fill(text, values, language) {
  return text.replace(/\{(\w+)(?::([^{}|]*)\|([^{}|]*))?\}/g, (
    _,
    name,
    one,
    other,
  ) => {
    const value = values[name];
    if (one === undefined) return String(value ?? "");
    let rules = pluralRules.get(language);
    if (!rules) {
      rules = new Intl.PluralRules(language);
      pluralRules.set(language, rules);
    }
    return rules.select(countOf(value)) === "one" ? one : other;
  });
}
