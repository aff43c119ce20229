"""Draft adaptation: LoRA-train a model drafter toward the target (``specviz adapt``).

``session`` builds training sequences and writes the adapter; ``train`` holds the loss,
the loop and validation agreement. The adapted drafter is then ``layerskip:N+lora:PATH``.
"""

from specviz.adapt.session import adapt, items_from_prompts, items_from_table
from specviz.adapt.train import Item, TrainConfig, TrainResult

__all__ = ["adapt", "items_from_prompts", "items_from_table", "Item", "TrainConfig", "TrainResult"]
