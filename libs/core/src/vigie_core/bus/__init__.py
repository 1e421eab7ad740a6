"""Bus implementations; import KafkaBus from vigie_core.bus.kafka (it loads librdkafka)."""

from vigie_core.bus.base import Bus, Consumer, Record, TopicSpec, topic_specs
from vigie_core.bus.memory import MemoryBus

__all__ = ["Bus", "Consumer", "MemoryBus", "Record", "TopicSpec", "topic_specs"]
