// A server-sent-events parser (the browser's EventSource cannot send a bearer token).

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

/** Feeds text chunks, yields complete messages; comments (keep-alives) are skipped. */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private id: string | null = null;
  private event = "message";

  push(chunk: string): SseMessage[] {
    this.buffer += chunk;
    const out: SseMessage[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (match === null) break;
      const line = this.buffer.slice(0, match.index);
      // A lone "\r" at the end of a chunk may be the first half of "\r\n": wait for more.
      if (match[0] === "\r" && match.index === this.buffer.length - 1) break;
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const message = this.line(line);
      if (message !== null) out.push(message);
    }
    return out;
  }

  private line(line: string): SseMessage | null {
    if (line === "") {
      if (this.data.length === 0) {
        this.event = "message";
        return null;
      }
      const message = { id: this.id, event: this.event, data: this.data.join("\n") };
      this.data = [];
      this.id = null;
      this.event = "message";
      return message;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "id") this.id = value;
    else if (field === "event") this.event = value;
    return null;
  }
}
