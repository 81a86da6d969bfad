"""Computations from every source: fedexec text (a string or a file), a
serialized federated_language Computation (.pb, .textproto), proto bytes
and objects traced by federated_language."""

import pathlib

import federated_language as fl
import numpy as np
import pytest

import fedexec

MEAN = "(x: {float32}@CLIENTS) -> federated_mean(x)"
EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def test_text():
    comp = fedexec.Computation.from_text(MEAN)
    assert comp.type_signature == "({float32}@CLIENTS -> float32@SERVER)"
    assert "federated_mean" in comp.to_text()


def test_text_file(runtime):
    comp = fedexec.Computation.from_file(EXAMPLES / "mean.fed")
    assert runtime.call(comp, [1.0, 2.0]) == 1.5
    assert runtime.call(EXAMPLES / "mean.fed", [4.0]) == 4.0


def test_binary_proto_round_trip(runtime, tmp_path):
    data = fedexec.Computation.from_text(MEAN).to_proto()
    assert runtime.call(fedexec.Computation.from_proto(data), [2.0, 4.0]) == 3
    path = tmp_path / "mean.pb"
    path.write_bytes(data)
    assert runtime.call(fedexec.Computation.from_file(path), [1.0]) == 1.0


def test_textproto(runtime, tmp_path):
    @fl.federated_computation(fl.FederatedType(np.float32, fl.CLIENTS))
    def mean(x):
        return fl.federated_mean(x)

    from google.protobuf import text_format
    text = text_format.MessageToString(mean.to_proto())
    assert runtime.call(fedexec.Computation.from_textproto(text),
                        [1.0, 2.0]) == 1.5
    path = tmp_path / "mean.textproto"
    path.write_text(text)
    assert runtime.call(path, [5.0]) == 5.0


def test_federated_language_proto_messages_and_objects(runtime):
    @fl.federated_computation(fl.FederatedType(np.int32, fl.CLIENTS))
    def total(x):
        return fl.federated_sum(x)

    assert runtime.call(fedexec.Computation.from_proto(total.to_proto()),
                        [1, 2]) == 3
    assert runtime.call(total, [1, 2, 3]) == 6


def test_unknown_sources_are_type_errors(runtime):
    with pytest.raises(TypeError, match="expected a computation"):
        runtime.call(42)
    with pytest.raises(TypeError, match="not a federated_language"):
        fedexec.Computation.from_federated_language(object())
