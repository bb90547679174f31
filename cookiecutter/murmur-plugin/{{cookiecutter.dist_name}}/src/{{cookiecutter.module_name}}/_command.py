"""`murmur {{ cookiecutter.entry_name }}`: a command of the murmur CLI.

murmur imports this module only when the command runs (`murmur --help` lists it from the
package metadata, without importing it): keep module-level imports to click and murmur's
light modules, and import anything heavy inside the command.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from murmur import AgentResult

__all__ = ["command"]


@click.group(name="{{ cookiecutter.entry_name }}")
def command() -> None:
    """{{ cookiecutter.description }}"""


@command.command(name="ask")
@click.argument("question")
@click.option("--model", default="test", show_default=True, help="A PydanticAI model string.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def ask(question: str, model: str, as_json: bool) -> None:
    """Ask one agent QUESTION and print its answer (offline with the default model)."""
    from murmur import Agent, AgentRuntime, TaskSpec
    from murmur.events import NullEventEmitter

    async def main() -> AgentResult[Any]:
        agent = Agent(name="assistant", model=model, instructions="Answer briefly.")
        async with AgentRuntime(event_emitter=NullEventEmitter()) as runtime:
            return await runtime.run(agent, TaskSpec(input=question))

    result = asyncio.run(main())
    if not result.is_ok():
        raise click.ClickException(str(result.error))
    answer = result.output
    click.echo(json.dumps({"question": question, "answer": answer}) if as_json else answer)
