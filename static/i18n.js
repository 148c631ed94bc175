/**
 * Every text on the demo page, one table per language. Keys are the same in
 * each table; `{name}` placeholders are filled in by `t()`.
 *
 * @module
 */

/** Supported languages, in the order the selector shows them. */
export const LANGUAGES = ["zh-Hant", "zh-Hans", "en"];

/** @type {Record<string, Record<string, string>>} */
export const MESSAGES = {
  "en": {
    title: "WebSocket, live",
    intro:
      "Connect to the echo server, send messages and watch readyState, bufferedAmount and every event as they happen. The server sends back everything you send.",
    language: "Language",
    connection: "Connection",
    url: "URL",
    protocol: "Subprotocol (optional)",
    connect: "Connect",
    disconnect: "close()",
    state: "State",
    bytes: "bytes",
    peak: "peak",
    bufferedExplained:
      "bufferedAmount: bytes queued by send() but not yet handed to the network. Send a burst to see it rise and drain.",
    "state.none": "No WebSocket yet: press Connect.",
    "state.0":
      "CONNECTING: the object exists and the opening handshake is under way.",
    "state.1": "OPEN: the handshake succeeded; send() delivers messages.",
    "state.2": "CLOSING: a close frame was sent; waiting for the other side.",
    "state.3": "CLOSED: the connection is closed or could not be opened.",
    send: "send()",
    textMessage: "Text message",
    sendText: "Send text",
    hexBytes: "Bytes (hex)",
    sendBinary: "Send binary",
    randomSize: "Random bytes (size)",
    sendRandom: "Send random bytes",
    burst: "Burst: messages × KiB",
    sendBurst: "Send burst",
    sendGoodbye: 'Send "Goodbye"',
    goodbyeExplained:
      'Like pywebsocket, the server echoes the text "Goodbye" and then closes with code 1000.',
    close: "close()",
    closeCode: "Code",
    closeReason: "Reason",
    closeButton: "Close",
    events: "Events",
    eventsExplained:
      "Every open, message, error and close event, with the time it arrived.",
    clearLog: "Clear",
    code: "The code for what you just did",
    notOpen: "Not open: connect first (readyState must be 1).",
    badHex: "Not hex bytes: {value}",
    badCode:
      "close() accepts 1000 or 3000-4999 from a browser; {value} is not allowed.",
    binary: "binary, {bytes} bytes: {hex}",
    text: "text: {data}",
    closeDetail: "code={code} reason={reason} wasClean={clean}",
    errorDetail: "the connection failed or broke; close follows",
    openDetail: "protocol={protocol}",
    delay: "Server delay (ms)",
    formatJson: "Echo as JSON (format=json)",
    optionsExplained:
      "These become query options in the URL: ?delay= holds each echo on the server for that many milliseconds, ?format=json wraps each echo as {seq, type, bytes, receivedAt, data}. Connect again to apply them.",
    roundTrip: "Last round trip",
    roundTripExplained:
      "Time from send() to the echo's message event. Raise the delay to see it grow; send a burst to see bufferedAmount and the round trip together.",
    handshake: "Your handshake",
    handshakeExplained:
      "Opens a second WebSocket to /inspect (with the subprotocol above, if any). Its first message describes the opening handshake as the server received it; then the page closes it.",
    inspect: "Inspect my handshake",
    clientIp: "Your IP, as the limits see it",
    subprotocols: "Subprotocols: offered → chosen",
    extensions: "Extensions: offered → accepted",
    requestHeaders: "Request headers",
    limits: "Limits",
    limitName: "Limit",
    limitValue: "Value",
    explainCode: "what {code} means",
    none: "(none)",
    off: "off",
    inspectFailed: "Could not inspect the handshake: {detail}",
    closeCodes: "Close codes",
    closeCodesExplained:
      "The code in a close event says why the connection ended. The event log links each close to its row here.",
    "close.1000":
      "Normal closure: the connection did its job (close(), or the server after Goodbye or an idle timeout).",
    "close.1001":
      "Going away: the server is shutting down, or the browser is leaving the page.",
    "close.1005":
      "No status received: the close frame carried no code. Reported by the browser, never sent.",
    "close.1006":
      "Abnormal closure: the connection dropped without a close frame. Reported by the browser, never sent.",
    "close.1008":
      "Policy violation: this server uses it for its limits (message rate, byte rate, slow reader); the reason names which.",
    "close.1009":
      "Message too big: the message was larger than the server accepts, and it was not echoed.",
    "close.1011":
      "Internal error: the server hit an unexpected condition and could not go on.",
    "close.1013":
      "Try again later: the server is overloaded; reconnect after a while.",
    "close.4000-4999":
      'Application codes: free for your own protocol; close(4000, "reason") on this page uses them.',
    burstSent:
      "sent {count} × {size} KiB; bufferedAmount right after: {buffered}",
  },
  "zh-Hant": {
    title: "WebSocket 即時示範",
    intro:
      "連線到回聲伺服器，傳送訊息，即時觀察 readyState、bufferedAmount 與每個事件。伺服器會把你傳送的內容原樣送回。",
    language: "語言",
    connection: "連線",
    url: "網址",
    protocol: "子協定（選填）",
    connect: "連線",
    disconnect: "close()",
    state: "狀態",
    bytes: "位元組",
    peak: "峰值",
    bufferedExplained:
      "bufferedAmount：已由 send() 排入佇列、尚未交給網路的位元組數。傳送一批訊息，看它上升再降回 0。",
    "state.none": "尚未建立 WebSocket：請按「連線」。",
    "state.0": "CONNECTING（連線中）：物件已建立，正在進行開啟握手。",
    "state.1": "OPEN（已開啟）：握手成功，send() 可以傳送訊息。",
    "state.2": "CLOSING（關閉中）：已送出關閉訊框，等待對方回應。",
    "state.3": "CLOSED（已關閉）：連線已關閉或無法建立。",
    send: "send()",
    textMessage: "文字訊息",
    sendText: "傳送文字",
    hexBytes: "位元組（十六進位）",
    sendBinary: "傳送二進位",
    randomSize: "隨機位元組（大小）",
    sendRandom: "傳送隨機位元組",
    burst: "批次：訊息數 × KiB",
    sendBurst: "批次傳送",
    sendGoodbye: "傳送「Goodbye」",
    goodbyeExplained:
      "與 pywebsocket 相同，伺服器回傳文字「Goodbye」後，以代碼 1000 關閉連線。",
    close: "close()",
    closeCode: "代碼",
    closeReason: "原因",
    closeButton: "關閉",
    events: "事件",
    eventsExplained: "每個 open、message、error 與 close 事件，以及發生時間。",
    clearLog: "清除",
    code: "剛才操作的程式碼",
    notOpen: "尚未開啟：請先連線（readyState 必須是 1）。",
    badHex: "不是十六進位位元組：{value}",
    badCode: "瀏覽器的 close() 只接受 1000 或 3000-4999；{value} 不允許。",
    binary: "二進位，{bytes} 位元組：{hex}",
    text: "文字：{data}",
    closeDetail: "code={code} reason={reason} wasClean={clean}",
    errorDetail: "連線失敗或中斷；接著會有 close 事件",
    openDetail: "protocol={protocol}",
    delay: "伺服器延遲（毫秒）",
    formatJson: "以 JSON 回傳（format=json）",
    optionsExplained:
      "這些選項會成為網址的查詢參數：?delay= 讓伺服器把每次回傳延後指定的毫秒數，?format=json 把每次回傳包成 {seq, type, bytes, receivedAt, data}。重新連線後生效。",
    roundTrip: "上次往返時間",
    roundTripExplained:
      "從 send() 到回傳的 message 事件所經過的時間。調高延遲可看到它變長；傳送一批訊息可同時觀察 bufferedAmount 與往返時間。",
    handshake: "你的握手",
    handshakeExplained:
      "另開一條連到 /inspect 的 WebSocket（若上方填了子協定也會帶上）。它的第一則訊息描述伺服器收到的開啟握手，之後頁面會關閉它。",
    inspect: "檢視我的握手",
    clientIp: "限制所認定的你的 IP",
    subprotocols: "子協定：提出 → 選定",
    extensions: "擴充：提出 → 接受",
    requestHeaders: "請求標頭",
    limits: "限制",
    limitName: "限制",
    limitValue: "數值",
    explainCode: "{code} 是什麼意思",
    none: "（無）",
    off: "關閉",
    inspectFailed: "無法檢視握手：{detail}",
    closeCodes: "關閉代碼",
    closeCodesExplained:
      "close 事件中的代碼說明連線為何結束。事件紀錄中的每次關閉都連結到這裡對應的列。",
    "close.1000":
      "正常關閉：連線已完成任務（呼叫 close()，或伺服器在 Goodbye 或閒置逾時後關閉）。",
    "close.1001": "離開：伺服器正在關機，或瀏覽器正要離開頁面。",
    "close.1005": "未收到狀態：關閉訊框沒有代碼。只由瀏覽器回報，不會被送出。",
    "close.1006":
      "異常關閉：連線在沒有關閉訊框的情況下中斷。只由瀏覽器回報，不會被送出。",
    "close.1008":
      "違反政策：本伺服器用於各項限制（訊息速率、位元組速率、讀取太慢），原因會說明是哪一項。",
    "close.1009": "訊息過大：訊息超過伺服器接受的大小，因此沒有回傳。",
    "close.1011": "內部錯誤：伺服器遇到意外狀況，無法繼續。",
    "close.1013": "稍後再試：伺服器負載過高，請過一會兒再連線。",
    "close.4000-4999":
      '應用程式代碼：可自由用於你自己的協定；本頁的 close(4000, "reason") 就使用它們。',
    burstSent: "已傳送 {count} × {size} KiB；之後的 bufferedAmount：{buffered}",
  },
  "zh-Hans": {
    title: "WebSocket 实时演示",
    intro:
      "连接到回声服务器，发送消息，实时观察 readyState、bufferedAmount 和每个事件。服务器会把你发送的内容原样发回。",
    language: "语言",
    connection: "连接",
    url: "网址",
    protocol: "子协议（可选）",
    connect: "连接",
    disconnect: "close()",
    state: "状态",
    bytes: "字节",
    peak: "峰值",
    bufferedExplained:
      "bufferedAmount：已由 send() 排入队列、尚未交给网络的字节数。发送一批消息，看它上升再降回 0。",
    "state.none": "尚未创建 WebSocket：请按「连接」。",
    "state.0": "CONNECTING（连接中）：对象已创建，正在进行打开握手。",
    "state.1": "OPEN（已打开）：握手成功，send() 可以发送消息。",
    "state.2": "CLOSING（关闭中）：已发出关闭帧，等待对方回应。",
    "state.3": "CLOSED（已关闭）：连接已关闭或无法建立。",
    send: "send()",
    textMessage: "文本消息",
    sendText: "发送文本",
    hexBytes: "字节（十六进制）",
    sendBinary: "发送二进制",
    randomSize: "随机字节（大小）",
    sendRandom: "发送随机字节",
    burst: "批量：消息数 × KiB",
    sendBurst: "批量发送",
    sendGoodbye: "发送「Goodbye」",
    goodbyeExplained:
      "与 pywebsocket 相同，服务器回传文本「Goodbye」后，以代码 1000 关闭连接。",
    close: "close()",
    closeCode: "代码",
    closeReason: "原因",
    closeButton: "关闭",
    events: "事件",
    eventsExplained: "每个 open、message、error 和 close 事件，以及发生时间。",
    clearLog: "清除",
    code: "刚才操作的代码",
    notOpen: "尚未打开：请先连接（readyState 必须是 1）。",
    badHex: "不是十六进制字节：{value}",
    badCode: "浏览器的 close() 只接受 1000 或 3000-4999；{value} 不允许。",
    binary: "二进制，{bytes} 字节：{hex}",
    text: "文本：{data}",
    closeDetail: "code={code} reason={reason} wasClean={clean}",
    errorDetail: "连接失败或中断；随后会有 close 事件",
    openDetail: "protocol={protocol}",
    delay: "服务器延迟（毫秒）",
    formatJson: "以 JSON 回传（format=json）",
    optionsExplained:
      "这些选项会成为网址的查询参数：?delay= 让服务器把每次回传推迟指定的毫秒数，?format=json 把每次回传包装成 {seq, type, bytes, receivedAt, data}。重新连接后生效。",
    roundTrip: "上次往返时间",
    roundTripExplained:
      "从 send() 到回传的 message 事件经过的时间。调高延迟可以看到它变长；发送一批消息可以同时观察 bufferedAmount 和往返时间。",
    handshake: "你的握手",
    handshakeExplained:
      "另开一条连接到 /inspect 的 WebSocket（如果上面填写了子协议也会带上）。它的第一条消息描述服务器收到的打开握手，之后页面会关闭它。",
    inspect: "查看我的握手",
    clientIp: "限制所认定的你的 IP",
    subprotocols: "子协议：提出 → 选定",
    extensions: "扩展：提出 → 接受",
    requestHeaders: "请求头",
    limits: "限制",
    limitName: "限制",
    limitValue: "数值",
    explainCode: "{code} 是什么意思",
    none: "（无）",
    off: "关闭",
    inspectFailed: "无法查看握手：{detail}",
    closeCodes: "关闭代码",
    closeCodesExplained:
      "close 事件中的代码说明连接为何结束。事件日志中的每次关闭都链接到这里对应的行。",
    "close.1000":
      "正常关闭：连接已完成任务（调用 close()，或服务器在 Goodbye 或空闲超时后关闭）。",
    "close.1001": "离开：服务器正在关机，或浏览器正要离开页面。",
    "close.1005": "未收到状态：关闭帧没有代码。只由浏览器报告，不会被发送。",
    "close.1006":
      "异常关闭：连接在没有关闭帧的情况下断开。只由浏览器报告，不会被发送。",
    "close.1008":
      "违反策略：本服务器用于各项限制（消息速率、字节速率、读取太慢），原因会说明是哪一项。",
    "close.1009": "消息过大：消息超过服务器接受的大小，因此没有回传。",
    "close.1011": "内部错误：服务器遇到意外情况，无法继续。",
    "close.1013": "稍后再试：服务器负载过高，请过一会儿再连接。",
    "close.4000-4999":
      '应用程序代码：可以自由用于你自己的协议；本页的 close(4000, "reason") 就使用它们。',
    burstSent: "已发送 {count} × {size} KiB；之后的 bufferedAmount：{buffered}",
  },
};

/**
 * Picks the page language: the saved choice, else the browser's preference.
 * @param {string | null} saved
 * @param {readonly string[]} preferred e.g. navigator.languages
 */
export function pickLanguage(saved, preferred) {
  if (saved && LANGUAGES.includes(saved)) return saved;
  for (const tag of preferred) {
    const lower = tag.toLowerCase();
    if (/^zh-(hant|tw|hk|mo)/.test(lower)) return "zh-Hant";
    if (lower.startsWith("zh")) return "zh-Hans";
    if (lower.startsWith("en")) return "en";
  }
  return "en";
}
