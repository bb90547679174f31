import { describe, expect, it } from "vitest";
import { SseParser } from "./sse";

describe("SseParser", () => {
  it("parses messages split across chunks, with ids, and skips keep-alive comments", () => {
    const parser = new SseParser();
    expect(parser.push(": ping\r\n\r\nid: 1\r\nda")).toEqual([]);
    expect(parser.push('ta: {"a":1}\r\n\r\nid: 2\ndata: x\ndata: y\n\n')).toEqual([
      { id: "1", event: "message", data: '{"a":1}' },
      { id: "2", event: "message", data: "x\ny" },
    ]);
  });

  it("waits for the rest of a CRLF split between chunks", () => {
    const parser = new SseParser();
    expect(parser.push("data: z\r")).toEqual([]);
    expect(parser.push("\n\r\n")).toEqual([{ id: null, event: "message", data: "z" }]);
  });
});
