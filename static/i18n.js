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
