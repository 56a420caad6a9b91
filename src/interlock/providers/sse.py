"""Incremental Server-Sent Events decoder for upstream streams (W3C event-stream rules).

Bytes arrive split anywhere (mid-line, mid-UTF-8 sequence); ``decode`` buffers and yields complete events,
``flush`` yields a last event the upstream left without its blank line. Comment lines (``:``) are ignored,
multi-line ``data`` is joined with newlines, ``\\r\\n``, ``\\r`` and ``\\n`` all end lines. A line longer than
``max_line`` raises ``ValueError`` so a hostile upstream cannot grow the buffer without bound.
"""

from __future__ import annotations

import codecs

from interlock.providers.base import SSEEvent

MAX_LINE = 16 * 1024 * 1024


class SSEDecoder:
    """Feed bytes, get :class:`SSEEvent` values."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf = ""
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._max_line = max_line
        self._pending_cr = False

    def decode(self, chunk: bytes) -> list[SSEEvent]:
        text = self._text.decode(chunk)
        if not text:
            return []
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]  # the \n of a \r\n split across chunks
        self._pending_cr = text.endswith("\r")
        self._buf += text
        out: list[SSEEvent] = []
        buf = self._buf
        start = 0
        n = len(buf)
        while start < n:
            i_n = buf.find("\n", start)
            i_r = buf.find("\r", start)
            if i_n < 0 and i_r < 0:
                break
            nl = i_n if i_r < 0 else i_r if i_n < 0 else min(i_n, i_r)
            line = buf[start:nl]
            step = 2 if buf[nl] == "\r" and nl + 1 < n and buf[nl + 1] == "\n" else 1
            start = nl + step
            event = self._line(line)
            if event is not None:
                out.append(event)
        self._buf = buf[start:]
        if len(self._buf) > self._max_line:
            raise ValueError("SSE line exceeds the maximum length")
        return out

    def flush(self) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        tail = self._text.decode(b"", final=True)
        rest = self._buf + tail
        self._buf = ""
        if rest:
            event = self._line(rest.rstrip("\r\n"))
            if event is not None:
                out.append(event)
        event = self._line("")
        if event is not None:
            out.append(event)
        return out

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            if not self._data and self._event is None:
                return None
            event = SSEEvent(data="\n".join(self._data), event=self._event, id=self._id)
            self._data = []
            self._event = None
            return event
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None


__all__ = ["SSEDecoder"]
