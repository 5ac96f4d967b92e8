"""Prompt sets for similarity notions."""
from indirect.prompts.builder import PromptError, build_prompts, load_vocabulary

__all__ = ["PromptError", "build_prompts", "load_vocabulary"]
