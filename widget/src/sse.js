// A text/event-stream parser over fetch()'s ReadableStream (EventSource cannot send an
// Authorization header). Follows the WHATWG parsing rules: fields id/event/data/retry,
// comments, CR/LF/CRLF line ends, dispatch on a blank line.

export async function readEventStream(body, onEvent, onRetry) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let data = [];
  let type = "";
  let lastId = "";

  const line = (text) => {
    if (!text) {
      if (data.length) onEvent(type || "message", data.join("\n"), lastId);
      data = [];
      type = "";
      return;
    }
    if (text[0] === ":") return; // a comment (heartbeat)
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value[0] === " ") value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") type = value;
    else if (field === "id") {
      if (!value.includes("\0")) lastId = value;
    } else if (field === "retry" && /^\d+$/.test(value)) onRetry(+value);
  };

  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    // A CR at the very end may be the first half of a CRLF: keep it for the next chunk.
    const lines = buffer.split(/\r\n|\r(?!$)|\n/);
    buffer = lines.pop();
    lines.forEach(line);
  }
}
