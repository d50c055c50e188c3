"""The wire between judge and worker: only plain data crosses, whatever the worker claims."""

from __future__ import annotations

import pytest
import torch

from gpt2lab.teacher import remote
from gpt2lab.teacher.runtime import wire


class Loud(torch.Tensor):
    """A tensor subclass whose comparisons all agree: it must arrive as a plain tensor."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("equal", "allclose"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


def round_trip(value):
    blobs: list[bytes] = []
    encoded = wire.encode(value, blobs, lambda v: wire.encode_tensor(v, blobs))
    return wire.decode(encoded, blobs, lambda obj: wire.decode_tensor(obj, blobs))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.int64, torch.bool])
def test_tensors_arrive_as_new_plain_tensors(dtype):
    sent = (torch.randn(3, 4) * 5).to(dtype)
    got = round_trip({"x": [sent.as_subclass(Loud)], "empty": torch.empty(0, 3, dtype=dtype)})
    assert type(got["x"][0]) is torch.Tensor and torch.equal(got["x"][0], sent)
    assert got["x"][0].data_ptr() != sent.data_ptr()
    assert got["empty"].shape == (0, 3) and got["empty"].dtype == dtype


def test_plain_values_round_trip():
    value = {"a": (1, 2.5, float("nan") != 0, None), "b": [torch.Size([2, 3]), torch.float16, slice(1, None)],
             "c": {1, 2}, "inf": float("inf"), "path": __import__("pathlib").Path("/x/y")}
    assert round_trip(value) == value


def test_a_tensor_whose_bytes_do_not_match_its_shape_is_refused():
    blobs = [b"\0" * 12]
    with pytest.raises(wire.WireError):
        wire.decode_tensor({"$": "tensor", "b": 0, "dtype": "float32", "shape": [4, 4]}, blobs)


def test_a_tensor_takes_its_blob_and_no_other_tensor_can_share_it():
    """Tensors are built on the received memory, not a copy: two tags naming one blob would alias."""
    blobs = [bytearray(8)]
    tag = {"$": "tensor", "b": 0, "dtype": "float32", "shape": [2]}
    first = wire.decode_tensor(tag, blobs)
    with pytest.raises(wire.WireError):
        wire.decode_tensor(tag, blobs)
    assert first.tolist() == [0.0, 0.0]


def test_a_large_message_crosses_whole(tmp_path):
    import os

    read, write = os.pipe()
    sent = torch.randn(3 << 20)  # 12 MiB: written from the tensor's own memory, read into one buffer
    pid = os.fork()
    if pid == 0:
        os.close(read)
        wire.write_message(write, {"n": 1}, [b"small", wire.tensor_bytes(sent)])
        os._exit(0)
    os.close(write)
    header, blobs = wire.Reader(read, 1 << 30).read()
    os.waitpid(pid, 0)
    got = wire.decode_tensor({"$": "tensor", "b": 1, "dtype": "float32", "shape": [3 << 20]}, blobs)
    assert header == {"n": 1} and bytes(blobs[0]) == b"small" and torch.equal(got, sent)


def test_large_plain_collections_round_trip_as_they_are():
    ranks = {f"{chr(0x100 + i % 500)}{i}": i for i in range(50_000)}  # e09's merges, in size
    value = {"ranks": ranks, "ids": list(range(10_000)), "mixed": [1, "a", None, True, 2.5, [3]], "t": (1, 2)}
    got = round_trip(value)
    assert got == value and type(got["t"]) is tuple and list(got["ranks"]) == list(ranks)


def test_nesting_and_size_are_bounded():
    deep = {"$": "list", "v": []}
    for _ in range(wire.MAX_DEPTH + 5):
        deep = {"$": "list", "v": [deep]}
    with pytest.raises(wire.WireError):
        wire.decode(deep, [], lambda obj: obj)
    for too_many in ({"$": "list", "v": [0] * (wire.MAX_ITEMS + 1)},
                     {"$": "dict", "k": list(range(wire.MAX_ITEMS)), "v": list(range(wire.MAX_ITEMS))}):
        with pytest.raises(wire.WireError):
            wire.decode(too_many, [], lambda obj: obj)


@pytest.mark.parametrize("mro", [
    ["_pytest.outcomes.Skipped", "_pytest.outcomes.OutcomeException", "builtins.BaseException", "builtins.object"],
    ["builtins.KeyboardInterrupt", "builtins.BaseException", "builtins.object"],
    ["builtins.SystemExit", "builtins.BaseException", "builtins.object"],
    ["exercises.x.StopIteration", "builtins.StopIteration", "builtins.Exception", "builtins.BaseException"],
])
def test_a_worker_cannot_raise_a_skip_an_exit_or_an_interrupt_in_the_judge(mro):
    error = remote.learner_error({"type": mro[0].rpartition(".")[2], "mro": mro, "message": "m", "frames": []})
    assert isinstance(error, remote.LearnerError) and isinstance(error, Exception)
    assert not isinstance(error, (KeyboardInterrupt, SystemExit, StopIteration))
    assert type(error).__mro__[1:] == (remote.LearnerError, Exception, BaseException, object)


def test_a_worker_error_keeps_its_builtin_kind():
    mro = ["exercises.e06.Oops", "builtins.ValueError", "builtins.Exception", "builtins.BaseException"]
    error = remote.learner_error({"type": "Oops", "mro": mro, "message": "bad", "frames": []})
    assert isinstance(error, ValueError) and str(error) == "bad"
    unicode = remote.learner_error({"type": "UnicodeDecodeError", "mro": ["builtins.UnicodeDecodeError",
                                    "builtins.UnicodeError", "builtins.ValueError"], "message": "x"})
    assert isinstance(unicode, remote.LearnerError)


def test_a_handle_named_again_before_its_release_is_sent_stays_in_the_worker(tmp_path):
    """The last proxy of a handle dies while a request is on its way (the garbage collector runs when
    it likes); the reply names the same object again: the release must not follow to the worker."""
    import gc

    from gpt2lab.teacher import sandbox

    conn = sandbox.start(tmp_path, sandbox=False, label="race")
    try:
        os_module = conn.module("os")
        holder = [os_module.getpid]  # a proxy of the worker's os.getpid, the only one
        pid = holder[0]()
        send = conn._send

        def send_then_collect(header, blobs):
            send(header, blobs)
            if header.get("op") == "getattr" and holder:
                holder.clear()  # its proxy dies now: after the request left, before its reply
                gc.collect()

        conn._send = send_then_collect
        again = os_module.getpid  # the same object, so the same handle
        assert again() == pid  # before the fix: KeyError from the worker, which had forgotten it
    finally:
        sandbox.close(conn)
