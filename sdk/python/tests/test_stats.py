"""Statistics: the typed common core, sections by name, and robustness to protocol changes."""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from tandem import _convert
from tandem._proto.tandem.v1 import common_pb2


def test_speculative_stats_are_typed(client):
    stats = client.generate("a b c", strategy="speculative", stream=False).stats
    assert stats.strategy == "speculative" and stats.drafter == "model"
    assert stats.prompt_tokens == 3 and stats.generated_tokens == 3
    # the speculation section's counters are typed attributes too
    assert (stats.num_drafts, stats.drafted_tokens, stats.accepted_tokens) == (2, 8, 6)
    assert stats.acceptance_rate == 0.75 and stats.mean_acceptance_length == 4.0
    assert stats.accepted_per_position == (2, 2, 1, 1) and stats.drafted_per_position == (2, 2, 2, 2)
    assert stats.final_gamma == 4 and stats.e2e_latency_ms == 12.5 and stats.time_to_first_token_ms == 1.5
    assert stats.get("speculation.acceptance_per_position") == [1.0, 1.0, 0.5, 0.5]
    assert stats.section("reward") is None
    assert stats.decode_tokens_per_s is None  # optional and unset
    assert stats.fallback == ""


def test_strategy_sections_by_name(client):
    stats = client.generate("a b", strategy="best_of_n", stream=False).stats
    assert stats.get("reward.final_reward") == 0.875
    assert stats.get("reward.items") == 4
    assert stats.section("reward")["calls"] == 1
    assert stats.get("flops.total") == 1e9
    assert stats.section("speculation") is None and stats.num_drafts == 0
    assert stats.get("cards.r_star") is None  # section absent
    assert stats.get("no_such_field", "dflt") == "dflt"
    # raw is protobuf's JSON mapping of the whole message
    assert stats.raw["strategy"] == "best_of_n"
    assert stats.raw["reward"]["items"] == 4
    assert stats.raw["reward"]["final_reward"] == 0.875


def test_message_to_native_handles_every_kind_of_field():
    stats = common_pb2.Stats(strategy="rsd")
    stats.rsd.step_rewards.extend([0.5, 1.0])
    stats.flops.prm = 3.0
    native = _convert.message_to_native(stats)
    assert native["strategy"] == "rsd"
    assert native["rsd"]["step_rewards"] == [0.5, 1.0]
    assert native["flops"] == {"draft": 0.0, "target": 0.0, "prm": 3.0, "total": 0.0}
    assert native["reward"] is None and native["generated_tokens"] == 0
    assert native["decode_tokens_per_s"] is None


def _stats_with_a_new_section():
    """A Stats message from a newer server: the common core plus a section this SDK has never heard of."""
    f = descriptor_pb2.FileDescriptorProto(name="newer_stats_test.proto", package="sdktest", syntax="proto3")
    section = f.message_type.add(name="Novel")
    section.field.add(name="brand_new_counter", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_UINT32,
                      label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    stats = f.message_type.add(name="Stats")
    for number, (name, kind) in enumerate([("strategy", "TYPE_STRING"), ("prompt_tokens", "TYPE_UINT32"),
                                           ("generated_tokens", "TYPE_UINT32")], start=1):
        stats.field.add(name=name, number=number, type=getattr(descriptor_pb2.FieldDescriptorProto, kind),
                        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    stats.field.add(name="novel", number=40, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                    type_name=".sdktest.Novel", label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("sdktest.Stats"))


def test_stats_survive_a_newer_server():
    msg = _stats_with_a_new_section()()
    msg.strategy, msg.prompt_tokens, msg.generated_tokens = "future", 11, 7
    msg.novel.brand_new_counter = 3
    stats = _convert.stats_from_proto(msg)
    assert stats.strategy == "future" and stats.prompt_tokens == 11 and stats.generated_tokens == 7
    assert stats.num_drafts == 0
    assert stats.get("novel.brand_new_counter") == 3
    assert stats.section("novel") == {"brand_new_counter": 3}
