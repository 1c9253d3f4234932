"""An artifact's weights as raw bytes: the split of the resources section, and loading from it."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mirage_mlir.driver.weights import (  # noqa: E402
    blob_tensor,
    join_resources,
    parse_stored,
    read_weights,
    split_resources,
    write_weights,
)
from mirage_mlir.examples import load_example  # noqa: E402
from mirage_mlir.passes.recognize.constants import decode_blob  # noqa: E402


def _hex_blobs(text: str) -> dict[str, str]:
    import re

    section = text[text.rfind("\n{-#"):]
    return dict(re.findall(r"([\w.$-]+): \"(0x[0-9A-Fa-f]*)\"", section))


@pytest.mark.parametrize("printer", ["torch-mlir", "xdsl"])
def test_split_keeps_every_blob_byte_for_byte(printer):
    # torch-mlir prints one blob per line, xDSL all of them on one line.
    text = load_example("e5_gated_layer").mlir_path.read_text()
    if printer == "xdsl":
        from mirage_mlir.dialects.context import parse_mlir, print_mlir

        text = print_mlir(parse_mlir(text))
    stored = split_resources(text)
    assert stored is not None
    hex_blobs = _hex_blobs(text)
    assert sorted(stored.blobs) == sorted(hex_blobs) and len(hex_blobs) == 3
    for name, digits in hex_blobs.items():
        data = bytes.fromhex(digits[2:])
        assert stored.alignments[name] == int.from_bytes(data[:4], "little")
        assert bytes(stored.blobs[name]) == data[4:]
    assert text.startswith(stored.body) and "{-#" not in stored.body
    assert "dense_resource<" in stored.body
    assert join_resources(stored) == text


def test_text_without_a_plain_resources_section_is_not_split():
    assert split_resources("func.func @main() {\n  func.return\n}\n") is None
    # Another dialect's resources: the text path keeps them.
    other = ('module {}\n\n{-#\n  dialect_resources: {\n    other: {\n'
             '      k: "0x04000000"\n    }\n  }\n#-}\n')
    assert split_resources(other) is None


def test_written_weights_load_as_the_tensors_the_hex_decodes_to(tmp_path):
    text = load_example("e7_llama_attention").mlir_path.read_text()
    stored = split_resources(text)
    index = write_weights(stored, tmp_path)
    for entry in index["blobs"]:
        assert entry["offset"] % 64 == 0
    (tmp_path / "m.mlir").write_text(text)
    loaded = read_weights(tmp_path, index, tmp_path / "m.mlir")
    assert loaded.body == stored.body and join_resources(loaded) == text
    hex_blobs = _hex_blobs(text)
    # torch_tensor_128_512_torch.float32 is a [128, 512] f32 weight.
    for name in hex_blobs:
        shape = tuple(int(n) for n in name.split("_torch")[0].split("_")[2:])
        tensor = blob_tensor(loaded.blobs[name], shape, torch.float32)
        np.testing.assert_array_equal(tensor.numpy(), decode_blob(hex_blobs[name], shape, "f32"))


def test_truncated_weights_file_is_an_error(tmp_path):
    text = load_example("e5_gated_layer").mlir_path.read_text()
    index = write_weights(split_resources(text), tmp_path)
    (tmp_path / "m.mlir").write_text(text)
    path = tmp_path / index["file"]
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="ends at byte"):
        read_weights(tmp_path, index, tmp_path / "m.mlir")
    (tmp_path / "m.mlir").write_text(text[:100])
    with pytest.raises(ValueError, match="holds 100 bytes"):
        read_weights(tmp_path, index, tmp_path / "m.mlir")


def test_blob_of_the_wrong_size_is_an_error():
    with pytest.raises(ValueError, match="take 24"):
        blob_tensor(bytearray(20), (2, 3), torch.float32)
    flags = blob_tensor(bytearray(b"\x00\x01\x01"), (3,), torch.bool)
    assert flags.tolist() == [False, True, True]


def test_parse_stored_finds_each_weight_when_the_names_are_taken():
    # Parsing the full text first puts its blobs in xDSL's process-wide table under
    # their names, so modules parsed from the stored weights get renamed handles.
    # E7's k and v projections have the same shape: a mix-up would change the result.
    from mirage_mlir.dialects.context import parse_mlir
    from mirage_mlir.driver.torch_executor import TorchProgram

    example = load_example("e7_llama_attention")
    text = example.mlir_path.read_text()
    parse_mlir(text)
    stored = split_resources(text)
    inputs = example.make_inputs(3)
    with torch.no_grad():
        expected = example.make_model()(*inputs)
    for _ in range(2):
        module, names = parse_stored(stored)
        assert sorted(names.values()) == sorted(stored.blobs)
        assert not set(names) <= set(stored.blobs)
        payloads = {handle: stored.blobs[name] for handle, name in names.items()}
        (got,) = TorchProgram(module, resources=payloads)(*inputs)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
