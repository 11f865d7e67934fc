"""Statistics: typed common fields, every field by name, and robustness to protocol changes."""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from tandem import _convert
from tandem._proto.tandem.v1 import common_pb2


def test_speculative_stats_are_typed(client):
    stats = client.generate("a b c", strategy="speculative", stream=False).stats
    assert stats.strategy == "speculative" and stats.drafter == "model"
    assert stats.prompt_tokens == 3 and stats.generated_tokens == 3
    assert (stats.num_drafts, stats.drafted_tokens, stats.accepted_tokens) == (2, 8, 6)
    assert stats.acceptance_rate == 0.75 and stats.mean_acceptance_length == 4.0
    assert stats.accepted_per_position == (2, 2, 1, 1) and stats.drafted_per_position == (2, 2, 2, 2)
    assert stats.final_gamma == 4 and stats.e2e_latency_ms == 12.5 and stats.time_to_first_token_ms == 1.5


def test_strategy_specific_fields_by_name(client):
    stats = client.generate("a b", strategy="best_of_n", stream=False).stats
    assert stats.get("final_reward") == 0.875
    assert stats.get("reward_items") == 4
    assert stats.fields["flops"]["total"] == 1e9
    assert stats.get("total") == 1e9  # nested fields are reachable at the top level too
    assert stats.get("r_star") is None  # optional and unset
    assert stats.get("no_such_field", "dflt") == "dflt"
    # raw is protobuf's JSON mapping of the whole message (64-bit integers as strings)
    assert stats.raw["strategy"] == "best_of_n"
    assert stats.raw["reward_items"] == "4"
    assert stats.raw["final_reward"] == 0.875


def test_message_to_native_handles_every_kind_of_field():
    stats = common_pb2.Stats(strategy="rsd", rsd_step_rewards=[0.5, 1.0])
    stats.flops.prm = 3.0
    native = _convert.message_to_native(stats)
    assert native["strategy"] == "rsd"
    assert native["rsd_step_rewards"] == [0.5, 1.0]
    assert native["flops"] == {"draft": 0.0, "target": 0.0, "prm": 3.0, "total": 0.0}
    assert native["final_reward"] is None and native["generated_tokens"] == 0


def _regrouped_stats_type():
    """A Stats message as the planned restructure may shape it: a common `core` message plus a
    strategy-specific one, and a field this SDK has never heard of."""
    f = descriptor_pb2.FileDescriptorProto(name="regrouped_stats_test.proto", package="sdktest", syntax="proto3")
    core = f.message_type.add(name="Core")
    for number, (name, kind) in enumerate([("strategy", "TYPE_STRING"), ("prompt_tokens", "TYPE_UINT64"),
                                           ("generated_tokens", "TYPE_UINT64"),
                                           ("e2e_latency_ms", "TYPE_DOUBLE")], start=1):
        core.field.add(name=name, number=number, type=getattr(descriptor_pb2.FieldDescriptorProto, kind),
                       label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    spec = f.message_type.add(name="Speculative")
    spec.field.add(name="acceptance_rate", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
                   label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    spec.field.add(name="brand_new_counter", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
                   label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    stats = f.message_type.add(name="Stats")
    for number, (name, type_name) in enumerate([("core", ".sdktest.Core"), ("speculative", ".sdktest.Speculative")],
                                               start=1):
        stats.field.add(name=name, number=number, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                        type_name=type_name, label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("sdktest.Stats"))


def test_stats_survive_a_regrouped_message():
    msg = _regrouped_stats_type()()
    msg.core.strategy, msg.core.prompt_tokens, msg.core.generated_tokens = "speculative", 11, 7
    msg.speculative.acceptance_rate, msg.speculative.brand_new_counter = 0.5, 3
    stats = _convert.stats_from_proto(msg)
    assert stats.strategy == "speculative" and stats.prompt_tokens == 11 and stats.generated_tokens == 7
    assert stats.acceptance_rate == 0.5
    assert stats.get("brand_new_counter") == 3
    assert stats.raw["speculative"]["brand_new_counter"] == "3"
