"""Records of a W&B offline run file (``run-*.wandb``), read with wandb's own protobufs: the file is
a LevelDB-style log (32 KiB blocks; each piece has a 7-byte header: crc, length, type 1 = whole,
2 = first, 3 = middle, 4 = last). wandb 0.2x-0.3x ships no reader for it."""
import glob
import struct

BLOCK = 32768


def _pieces(data: bytes):
    assert data[:4] == b":W&B", "not a W&B run file"
    pos, buffer = 7, b""
    while pos < len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0 and length == 0:
            pos += left
            continue
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind == 1:
            yield chunk
        elif kind == 2:
            buffer = chunk
        elif kind == 3:
            buffer += chunk
        elif kind == 4:
            yield buffer + chunk
            buffer = b""


def records(run_dir):
    """Every record of the one offline run under ``run_dir/wandb``."""
    from wandb.proto import wandb_internal_pb2

    [path] = glob.glob(f"{run_dir}/wandb/offline-run-*/run-*.wandb")
    with open(path, "rb") as handle:
        data = handle.read()
    for piece in _pieces(data):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(piece)
        yield record


def exit_codes(run_dir) -> list[int]:
    return [r.exit.exit_code for r in records(run_dir) if r.WhichOneof("record_type") == "exit"]


def tags(run_dir) -> list[str]:
    return [tag for r in records(run_dir) if r.WhichOneof("record_type") == "run" for tag in r.run.tags]
