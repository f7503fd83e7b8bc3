"""The launched app as an MCP server, through the ``mcp`` client package: its tools, two calls, one-line errors."""

import ast
import asyncio
import base64
import json
import re

import pytest

pytest.importorskip("mcp", reason="the MCP server needs the mcp package (requirements.txt)")

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from effnetv2.testing.appserver import (  # sets GRADIO_TEMP_DIR before gradio is imported
    PHOTO,
    ROOT,
    TEST_CHECKPOINT,
    app_process,
    expected_labels,
    rest_call,
    running_app,
)

PUBLIC = {"classify", "gradcam", "latency", "compare", "explain", "sanity", "feature_maps"}
SMALL_LATENCY = {
    "model": "efficientnetv2_b0", "blocks": "", "size": 64, "batch": 1, "runs": 1, "device": "cpu",
    "dtype": "fp32", "threads": "1", "lang": "en",
}  # fmt: skip


def data_uri(path) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()


@pytest.fixture(scope="module")
def mcp_url(hf_cache):
    with running_app() as url:
        yield url + "gradio_api/mcp/"


def session(url: str, *calls):
    """Run ``calls`` (coroutine functions of a ClientSession) in one MCP session; their results in order."""

    async def run():
        async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as s:
            await s.initialize()
            return [await call(s) for call in calls]

    return asyncio.run(run())


def texts(result) -> list[str]:
    return [c.text for c in result.content if c.type == "text"]


def call(name: str, arguments: dict):
    return lambda s: s.call_tool(name, arguments)


def test_the_tools_are_the_public_endpoints_described_and_typed(mcp_url):
    (listed,) = session(mcp_url, lambda s: s.list_tools())
    tools = {t.name: t for t in listed.tools}
    assert set(tools) == PUBLIC  # no page plumbing, no handler names (on_classify)
    for tool in tools.values():
        assert tool.description, tool.name
        for name, schema in tool.inputSchema["properties"].items():
            assert schema.get("description"), (tool.name, name)
            assert "type" in schema, (tool.name, name)
    classify = tools["classify"].inputSchema["properties"]
    assert "data:" in classify["image"]["description"] and classify["topk"]["type"] == "number"
    assert "between 1 and 10" in classify["topk"]["description"]  # the slider's bounds, as on the API page
    assert TEST_CHECKPOINT in classify["checkpoint"]["enum"]
    assert tools["gradcam"].inputSchema["properties"]["target"]["type"] == "integer"  # any class, not a list
    assert tools["latency"].inputSchema["properties"]["size"]["type"] == "number"


def test_classify_and_latency_answer_as_the_library_does(mcp_url):
    args = {"image": data_uri(PHOTO), "checkpoint": TEST_CHECKPOINT, "topk": 3, "path": "plain"}
    classified, measured = session(mcp_url, call("classify", args), call("latency", SMALL_LATENCY))
    assert not classified.isError, texts(classified)
    label = ast.literal_eval(texts(classified)[0])  # the gr.Label value
    assert [c["label"] for c in label["confidences"]] == expected_labels(PHOTO, TEST_CHECKPOINT, 3)
    assert "ms" in texts(classified)[1] and TEST_CHECKPOINT in texts(classified)[1]  # the timing line
    assert not measured.isError, texts(measured)
    report = ast.literal_eval(texts(measured)[0])  # the JSON output, as Python's text of it
    assert report["model"] == "efficientnetv2_b0" and report["image_size"] == 64 and report["threads"] == 1
    assert [s["name"] for s in report["stages"]][:2] == ["stem", "stage1"] and report["total_ms"] > 0


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("latency", {**SMALL_LATENCY, "size": "64"}, "'64' is not of type 'number'"),  # the tool's schema
        ("latency", {**SMALL_LATENCY, "blocks": "QQQ"}, "letters 'Q' are not F or M"),  # the app's own
        ("latency", {**SMALL_LATENCY, "size": 4096}, "640"),
        ("classify", {"image": "data:image/jpeg;base64," + base64.b64encode(b"hello").decode()}, "image"),
        ("classify", {"image": "http://127.0.0.1:9/cat.jpg"}, "image must be a file uploaded to this server"),
    ],
)
def test_bad_input_gets_one_line_and_the_server_goes_on(mcp_url, tool, arguments, message):
    args = {"checkpoint": TEST_CHECKPOINT, "topk": 1, "path": "plain"} if tool == "classify" else {}
    refused, measured = session(mcp_url, call(tool, {**args, **arguments}), call("latency", SMALL_LATENCY))
    assert refused.isError
    (text,) = texts(refused)
    assert message in text and "\n" not in text.strip() and "Traceback" not in text, text
    assert not measured.isError and json.loads(json.dumps(texts(measured)))


def test_gradcam_returns_its_overlay_as_an_image(mcp_url):
    args = {"image": data_uri(PHOTO), "checkpoint": TEST_CHECKPOINT, "stage": "head", "target": 281, "opacity": 0.5,
            "colormap": "jet"}  # fmt: skip
    (result,) = session(mcp_url, call("gradcam", args))
    assert not result.isError, texts(result)
    images = [c for c in result.content if c.type == "image"]
    assert len(images) == 2 and all(base64.b64decode(i.data)[:2] == b"\xff\xd8" for i in images)  # overlay, crop
    assert "281" in texts(result)[-1] or "tabby" in texts(result)[-1]  # the caption names the class explained


def test_the_documented_client_runs_as_written(mcp_url, monkeypatch, capsys):
    doc = (ROOT / "docs" / "api.md").read_text(encoding="utf-8").split("### MCP", 1)[1]
    (example,) = re.findall(r"```python\n(.*?)```", doc.split("\n## ", 1)[0], re.S)
    monkeypatch.chdir(ROOT)  # the example reads assets/chelsea.jpg
    exec(compile(example.replace("http://127.0.0.1:7860/gradio_api/mcp/", mcp_url), "docs/api.md", "exec"), {})
    tools, answer = capsys.readouterr().out.strip().splitlines()[-2:]
    assert set(ast.literal_eval(tools)) == PUBLIC
    assert "tf_efficientnet_lite0.embedded" in answer and " ms" in answer


def test_without_the_mcp_package_the_app_serves_everything_else(hf_cache, tmp_path):
    """mcp is optional at run time: an ``mcp`` that cannot be imported leaves the app without an MCP server, and
    the page and the API work as before."""
    import os

    import httpx

    (tmp_path / "mcp").mkdir()
    (tmp_path / "mcp" / "__init__.py").write_text("raise ImportError('no mcp here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ["PYTHONPATH"]])}
    with app_process(env) as app, httpx.Client(base_url=app.url, timeout=120) as http:
        assert http.post("gradio_api/mcp/", json={}).status_code == 404
        report = rest_call(http, "latency", list(SMALL_LATENCY.values()))[0]
        assert report["model"] == "efficientnetv2_b0" and report["image_size"] == 64
        assert "no mcp here" not in app.log_tail(40) and "Traceback" not in app.log_tail(40)
