"""The frames the server writes itself (several per write, without Tornado's per-frame Task) are
what a standard client parses: checked with the `websockets` library's own frame parser."""
import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from callcenter.handlers.ws import text_frame


def parse_all(data: bytes) -> list[Frame]:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as done:
            frames.append(done.value)
        else:
            raise AssertionError("incomplete frame")
    return frames


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_frames_of_every_length_encoding_parse(size):
    payload = ("é" + "x" * size)[:size] if size else ""
    [frame] = parse_all(text_frame(payload))
    assert (frame.opcode, frame.fin, frame.data.decode()) == (Opcode.TEXT, True, payload)


def test_frames_written_together_parse_one_by_one():
    payloads = ['{"type":"chat.message.ack"}', "😀" * 40, "y" * 300]
    frames = parse_all(b"".join(map(text_frame, payloads)))
    assert [f.data.decode() for f in frames] == payloads
