"""The app's MCP server: its public endpoints as MCP tools, named as on the API page, described as there.

Gradio serves MCP at ``/gradio_api/mcp/`` (streamable HTTP) when ``launch(mcp_server=True)`` and the ``mcp``
package is installed (``pip install "gradio[mcp]"``; without it the app starts with no MCP server). Gradio names a
tool after its handler (``on_classify``) and gives a parameter the handler docstring's ``Args:`` line or nothing;
:class:`ToolServer` names each tool after its endpoint (``classify``, as ``view_api`` and the REST routes do) and
describes every parameter as ``view_api`` does (:func:`effnetv2.ui_i18n.readable_api`: the docstring, else the
English label, with a slider's range). A tool call runs through the app's own queue with the same edge check
(``ExplorerBlocks``), so a bad value gets the same one-line message as over REST.

Images go in as ``data:`` URIs (base64): Gradio saves one to its temp folder and uploads it as ``handle_file``
would; an ``http(s)`` URL is refused, since the server fetches nothing a request names.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from gradio.mcp import GradioMCPServer

IMAGE_FORMAT = "a data: URI, e.g. data:image/jpeg;base64,... (URLs are refused: the server fetches nothing)"
"""What an image parameter takes over MCP (Gradio's own schema says an http(s) URL)."""


def available() -> bool:
    """Whether the ``mcp`` package can be imported (the app then serves MCP; without it, everything else works)."""
    try:
        importlib.import_module("mcp")
    except ImportError:
        return False
    return True


class ToolServer(GradioMCPServer):
    """Gradio's MCP server with this app's tool names and parameter descriptions (see the module's docstring)."""

    def get_tool_to_endpoint(self) -> dict[str, str]:
        """Tool name -> endpoint: the endpoint's own name (``/classify`` -> ``classify``), public endpoints only."""
        named = self.api_info["named_endpoints"]
        tools = {}
        for endpoint in named:
            block_fn = self.get_block_fn_from_endpoint_name(endpoint)
            if block_fn is not None and block_fn.fn is not None and block_fn.api_visibility == "public":
                tools[self.valid_and_unique_tool_name(self.tool_prefix + endpoint.lstrip("/"), set(tools))] = endpoint
        return tools

    async def _execute_tool_without_progress(self, job: Any) -> list[Any]:
        """The outputs, one each, as Gradio gives them to a client that asks for progress: without that, Gradio
        returns them as one value (the list's text), so that an overlay came back as a file path inside a text."""
        final = None
        async for update in job:
            if update.type == "output" and update.final:
                final = update
        if final is None or not final.success:
            error = final.outputs if final is not None else {}
            raise RuntimeError(error.get("error") or error.get("title") or f"the call failed ({job.exception()!r})")
        return final.outputs["data"]

    @property
    def _file_data_tool_description(self) -> str:
        return f" Pass an image as {IMAGE_FORMAT}."

    def get_fn_description(self, block_fn: Any, tool_name: str) -> tuple[str, dict[str, str]]:
        """The handler's description; each parameter's as on the API page (docstring, else label; bounds)."""
        description, parameters = super().get_fn_description(block_fn, tool_name)
        endpoint = self.api_info["named_endpoints"][self.tool_to_endpoint[tool_name]]
        readable = {p["parameter_name"]: p["python_type"].get("description", "") for p in endpoint["parameters"]}
        return description, {name: readable.get(name) or text for name, text in parameters.items()}

    def get_input_schema(
        self, tool_name: str, parameters: dict[str, str] | None = None
    ) -> tuple[dict[str, Any], list[list[str | int]]]:
        """Gradio's schema, with what an image parameter really takes here (:data:`IMAGE_FORMAT`), and no list of
        choices for a field that takes other values too (the Grad-CAM class: Gradio lists only ``-1``, as a string)."""
        schema, files = super().get_input_schema(tool_name, parameters)
        properties = schema["properties"]
        for path in files:
            if len(path) == 1 and isinstance(node := properties.get(path[0]), dict):
                node.pop("format", None)
                node["description"] = f"the image, as {IMAGE_FORMAT}"
        block_fn = self.get_block_fn_from_endpoint_name(self.tool_to_endpoint[tool_name])
        names = list(inspect.signature(block_fn.fn).parameters)
        for name, block in zip(names, block_fn.inputs, strict=False):
            node = properties.get(name)
            if getattr(block, "allow_custom_value", False) and isinstance(node, dict) and "enum" in node:
                values = node.pop("enum")
                if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                    node["type"] = "integer"
        return schema, files
