"""The app's interface strings in English and Simplified Chinese, and how a language is chosen.

One key per label, used through ``gr.I18n`` (the browser's locale picks) and for text the server makes
(chart titles, table headers). To add a string: add a key to ``UI`` with both languages, then use
``i18n("key")`` in ``app.py`` or ``ui_text("key", lang)`` in the back end. The walkthrough's prose lives in
:mod:`effnetv2.backend.walkthrough_text`, the paper's numbers in :mod:`effnetv2.paper`.
"""

from __future__ import annotations

import http.cookies
import re
from collections.abc import Mapping

LANGUAGES: dict[str, str] = {"en": "English", "zh-CN": "简体中文"}
"""BCP 47 tag -> the language's own name (what the language switch shows)."""
DEFAULT_LANGUAGE = "en"

# Interface strings, one key per label, for gr.I18n (the browser locale picks) and for server-made text.
UI: dict[str, tuple[str, str]] = {
    "title": ("EffNetV2 Explorer", "EffNetV2 探索器"),
    "subtitle": (
        "See what EfficientNetV2 sees, and measure why it is fast.",
        "看看 EfficientNetV2 看到了什么，并测量它为什么快。",
    ),
    "tab_classify": ("Classify", "分类"),
    "tab_latency": ("Latency", "延迟"),
    "tab_lab": ("Fused vs MBConv lab", "Fused 与 MBConv 实验室"),
    "tab_walkthrough": ("Walkthrough", "论文导读"),
    "image": ("Image", "图像"),
    "checkpoint": ("Checkpoint", "预训练权重"),
    "topk": ("Top-k", "前 k 个类别"),
    "fast_path": ("Inference path", "推理路径"),
    "classify_btn": ("Classify", "分类"),
    "predictions": ("Predictions", "预测结果"),
    "crop": ("What the model saw (resized and cropped)", "模型看到的图像（缩放并裁剪后）"),
    "gradcam": ("Grad-CAM", "Grad-CAM"),
    "gradcam_btn": ("Explain (Grad-CAM)", "解释（Grad-CAM）"),
    "cam_stage": ("Stage", "阶段"),
    "cam_class": ("Class", "类别"),
    "opacity": ("Opacity", "不透明度"),
    "colormap": ("Colormap", "色图"),
    "request_time": ("Request time", "请求耗时"),
    "model": ("Model", "模型"),
    "blocks": (
        "Blocks (F = Fused-MBConv, M = MBConv, one letter per stage)",
        "模块（F = Fused-MBConv，M = MBConv，每阶段一个字母）",
    ),
    "image_size": ("Image size (px)", "图像尺寸（像素）"),
    "batch": ("Batch", "批大小"),
    "runs": ("Runs", "运行次数"),
    "device": ("Device", "设备"),
    "dtype": ("Precision", "精度"),
    "measure_btn": ("Measure", "测量"),
    "latency_chart": ("Per-stage latency", "各阶段延迟"),
    "share_chart": ("Share of MACs vs share of time", "乘加占比与耗时占比"),
    "facts": ("Measurement", "测量条件"),
    "preset": ("Preset", "预设"),
    "stage_toggles": ("Operator per stage", "每个阶段的算子"),
    "compare_btn": ("Compare with the baseline", "与基线比较"),
    "train_throughput": ("Also measure training throughput", "同时测量训练吞吐量"),
    "lab_note": (
        "The baseline has every stage MBConv; the variant has the blocks chosen below (by default the published "
        "ones, the paper's Fused-MBConv in the early stages; all MBConv gives an A/A run that shows the machine's "
        "noise). Both are timed interleaved, and each difference gets a 95% interval and a verdict. Variants have "
        "random weights: only speed and size are compared, not accuracy. Results depend on the hardware; the paper "
        "measured TPUv3 and V100 GPUs.",
        "基线的每个阶段都是 MBConv；变体使用下面选择的模块（默认为论文发布的结构，即前几个阶段使用 Fused-MBConv；"
        "全部选 MBConv 则是一次 A/A 测量，显示机器本身的噪声）。两者交错计时，每个差异都给出 95% 区间和结论。"
        "变体使用随机权重：只比较速度和大小，不比较精度。结果取决于硬件；论文在 TPUv3 和 V100 GPU 上测量。",
    ),
    "lab_table": ("baseline (all MBConv) vs variant", "基线（全部 MBConv）与变体"),
    "language": ("Language", "语言"),
    "stage_table": ("Stage table", "阶段表"),
    "diagram_stage": ("Draw the block of stage", "绘制该阶段的模块"),
    "measure_throughput": ("Measure training throughput vs image size", "测量训练吞吐量与图像尺寸的关系"),
    "measure_shares": ("Measure EfficientNet-B0 per stage", "逐阶段测量 EfficientNet-B0"),
    "measure_table3": ("Measure the four B4 variants on this machine", "在本机上测量四个 B4 变体"),
    "weights_missing": ("Pretrained weights unavailable", "无法获取预训练权重"),
    "stage": ("Stage", "阶段"),
    "operator": ("Operator", "算子"),
    "stride": ("Stride", "步长"),
    "channels": ("Channels", "通道数"),
    "layers": ("Layers", "层数"),
    "params": ("Params", "参数量"),
    "mmacs": ("MMACs", "百万次乘加"),
    "variant": ("Variant", "变体"),
    "gmacs": ("GMACs", "十亿次乘加"),
    "share_macs": ("share of MACs", "乘加占比"),
    "share_time": ("share of time", "耗时占比"),
    "median_ms": ("median time (ms), bars: 95% interval", "中位耗时（毫秒），误差线为 95% 区间"),
    "images_per_s": ("training images / s, bars: 95% interval", "训练图像数 / 秒，误差线为 95% 区间"),
    "verdict_supported": (
        "Smaller images train faster here, beyond the measurement's spread.",
        "在本机上，较小的图像训练更快，差异超出了测量的波动范围。",
    ),
    "verdict_contradicted": (
        "Here a smaller image trained slower than a larger one, beyond the spread.",
        "在本机上，出现了较小图像比较大图像训练更慢的情况，差异超出了波动范围。",
    ),
    "verdict_too_noisy": (
        "This machine was too noisy to tell: the 95% intervals of neighbouring sizes overlap. Measure again when "
        "it is idle.",
        "本机测量波动太大，无法判断：相邻尺寸的 95% 区间相互重叠。请在机器空闲时重新测量。",
    ),
    "layers_per_stage": ("Layers per stage", "每阶段层数"),
    "no_fused": ("No fused", "无 Fused"),
    "fused_1_3": ("Fused stage 1-3", "Fused 阶段 1-3"),
    "fused_1_5": ("Fused stage 1-5", "Fused 阶段 1-5"),
    "fused_1_7": ("Fused stage 1-7", "Fused 阶段 1-7"),
    "paper": ("paper", "论文"),
    "this_machine": ("this machine", "本机"),
    # Measurements (effnetv2.measure): verdicts, the machine-noise line, the Lab's table.
    "v_faster": (
        "{variant} is {x}% faster than {baseline} (95% interval {lo}-{hi}%)",
        "{variant} 比 {baseline} 快 {x}%（95% 区间 {lo}-{hi}%）",
    ),
    "v_slower": (
        "{variant} is {x}% slower than {baseline} (95% interval {lo}-{hi}%)",
        "{variant} 比 {baseline} 慢 {x}%（95% 区间 {lo}-{hi}%）",
    ),
    "v_cant_tell": (
        "{variant} vs {baseline}: can't tell on this machine right now (noise ±{n}%)",
        "{variant} 与 {baseline}：此刻在本机上无法判断（噪声 ±{n}%）",
    ),
    "v_control": (
        "{variant} vs {baseline}: too noisy to tell: {part} is the same in both, yet measured {pct}% apart",
        "{variant} 与 {baseline}：噪声太大，无法判断：{part} 在两者中完全相同，却测得相差 {pct}%",
    ),
    "v_sum": (
        "{variant} vs {baseline}: too noisy to tell: a configuration's stages add up to {pct}% of its end-to-end time",
        "{variant} 与 {baseline}：噪声太大，无法判断：某个配置各阶段之和为其端到端时间的 {pct}%",
    ),
    "v_aa": (
        "A/A: the same configuration measured twice, so any difference is the machine's noise.",
        "A/A：同一配置测量两次，因此任何差异都来自机器的噪声。",
    ),
    "m_latency": ("Latency", "延迟"),
    "m_training": ("Training", "训练"),
    "noise_quiet": ("quiet", "空闲"),
    "noise_busy": ("busy", "繁忙"),
    "noise_very_busy": ("very busy", "非常繁忙"),
    "noise_line": (
        "Machine {level}: load average {load} on {cores} cores, identical runs vary {spread}x (p90/p10). {threads}",
        "机器{level}：{cores} 核上的平均负载为 {load}，相同运行的波动为 {spread} 倍（p90/p10）。{threads}",
    ),
    "threads_auto": (
        "{n} thread(s): {top} threads took {all} ms and 1 thread {one} ms just now.",
        "使用 {n} 个线程：刚才 {top} 个线程耗时 {all} 毫秒，1 个线程耗时 {one} 毫秒。",
    ),
    "threads_fixed": ("{n} thread(s), as set.", "使用 {n} 个线程（按设置）。"),
    "rounds_line": (
        "{rounds} interleaved rounds in {seconds} s (stopped: {stopped}).",
        "交错测量 {rounds} 轮，用时 {seconds} 秒（停止原因：{stopped}）。",
    ),
    "stopped_precision": ("intervals tight enough", "区间已足够窄"),
    "stopped_max rounds": ("most rounds reached", "已达最多轮数"),
    "stopped_budget": ("time budget spent", "时间预算已用完"),
    "threads": ("Threads", "线程数"),
    "rounds": ("Rounds (at most)", "轮数（最多）"),
    "col_blocks": ("blocks", "模块"),
    "stage_toggles_info": ("checked = Fused-MBConv, unchecked = MBConv", "勾选 = Fused-MBConv，未勾选 = MBConv"),
    "json": ("JSON (the full result)", "JSON（完整结果）"),
    "sizes_left_out": (
        "{sizes} px left out: over this server's time or memory limit for one request",
        "已略去 {sizes} 像素：超出本服务器单次请求的时间或内存限制",
    ),
    "train_images_interval": ("training images/s [95% interval]", "训练图像数/秒 [95% 区间]"),
    "col_latency": ("latency (95% interval)", "延迟（95% 区间）"),
    "col_train": ("train images/s (95% interval)", "训练图像数/秒（95% 区间）"),
    "col_verdict_latency": ("latency verdict", "延迟结论"),
    "col_verdict_train": ("training verdict", "训练结论"),
    "col_note": ("note", "备注"),
    "end_to_end": ("end-to-end latency", "端到端延迟"),
    "train_chart": ("training throughput", "训练吞吐量"),
    "baseline": ("baseline", "基线"),
    "bar_cant_tell": ("can't tell", "无法判断"),
    "bar_too_noisy": ("too noisy", "噪声太大"),
    "controls_note": (
        "hatched bars: stages that are the same in both (controls)",
        "斜线柱：两者中相同的阶段（对照）",
    ),
    "link_btn": ("Link to this analysis", "此分析的链接"),
    "link_label": ("Link (opens this tab with these settings)", "链接（以这些设置打开此标签页）"),
    "link_upload_note": (
        "Your own photo stays on this server: the link opens without it (only the example photos travel in a link).",
        "您上传的照片只保存在本服务器上：链接打开时不含该照片（只有示例照片会随链接一起打开）。",
    ),
    "link_skipped": ("The link's values left out: {what}", "链接中未采用的值：{what}"),
    "map_alt": ("{method} map of {label} at {stage}: {where}", "{stage} 上 {label} 的 {method} 热力图：{where}"),
    "map_where": (
        "strongest in the {region}, {share:.0%} of the image above half its peak",
        "最强处在{region}，图像的 {share:.0%} 高于其峰值的一半",
    ),
    "map_where_empty": ("no positive evidence anywhere (the map is empty)", "图像中没有任何正向证据（热力图为空）"),
    "region_upper_left": ("upper left", "左上方"),
    "region_upper_centre": ("upper centre", "上方正中"),
    "region_upper_right": ("upper right", "右上方"),
    "region_centre_left": ("centre left", "左侧正中"),
    "region_centre": ("centre", "中央"),
    "region_centre_right": ("centre right", "右侧正中"),
    "region_lower_left": ("lower left", "左下方"),
    "region_lower_centre": ("lower centre", "下方正中"),
    "region_lower_right": ("lower right", "右下方"),
}


def ui_text(key: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """One interface string in a language (unknown languages fall back to English)."""
    en, zh = UI[key]
    return zh if normalize_language(lang) == "zh-CN" else en


I18N_PREFIX = "ev2_"
"""Prefix of this app's ``gr.I18n`` keys: Gradio's own translations use keys such as ``image`` and ``blocks``
(namespaces of the frontend), and a clash shows "[object Object]" as the label."""


def i18n_key(key: str) -> str:
    if key not in UI:
        raise KeyError(f"unknown interface string {key!r}")
    return I18N_PREFIX + key


def i18n_translations() -> dict[str, dict[str, str]]:
    """``{locale: {key: text}}`` for ``gr.I18n(**...)``; ``zh`` is added so every Chinese browser matches."""
    en = {i18n_key(k): v[0] for k, v in UI.items()}
    zh = {i18n_key(k): v[1] for k, v in UI.items()}
    return {"en": en, "zh-CN": zh, "zh": zh}


def normalize_language(lang: str | None) -> str:
    """A language tag or name -> a supported tag: any Chinese variant -> ``zh-CN``, everything else -> ``en``."""
    if not lang:
        return DEFAULT_LANGUAGE
    text = str(lang).strip()
    for tag, name in LANGUAGES.items():
        if text in (tag, name):
            return tag
    return "zh-CN" if text.lower().replace("_", "-").startswith("zh") else DEFAULT_LANGUAGE


def language_from_header(accept_language: str | None) -> str:
    """The best supported language for an HTTP ``Accept-Language`` header (q-values respected)."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        match = re.search(r"q=([0-9.]+)", params)
        try:
            q = float(match.group(1)) if match else 1.0
        except ValueError:
            q = 0.0
        if tag and q > 0:
            ranked.append((-q, i, tag.strip()))
    for _, _, tag in sorted(ranked):
        lower = tag.lower()
        if lower.startswith("zh") or lower.startswith("en"):
            return normalize_language(tag)
    return DEFAULT_LANGUAGE


LANGUAGE_COOKIE = "effnetv2_lang"
"""The cookie the page's language switch sets, so that text the server makes for any event (the Classify tab's
timing line and Grad-CAM caption) follows the switch without a language parameter in the public API."""


def request_language(headers: Mapping[str, str] | None) -> str:
    """The language of a request: the switch's cookie when the page set one, else ``Accept-Language``."""
    if not headers:
        return DEFAULT_LANGUAGE
    jar = http.cookies.SimpleCookie()
    try:
        jar.load(headers.get("cookie") or "")
    except http.cookies.CookieError:
        jar.clear()
    if LANGUAGE_COOKIE in jar:
        return normalize_language(jar[LANGUAGE_COOKIE].value)
    return language_from_header(headers.get("accept-language"))


# The Explain tab.
UI.update(
    {
        "tab_explain": ("Explain", "解释"),
        "explain_methods": ("Methods", "方法"),
        "explain_stages": ("Stages (at most 3)", "阶段（最多 3 个）"),
        "explain_cell": ("Cell (px) of the deletion/insertion curves", "删除/插入曲线的单元格（像素）"),
        "explain_steps": ("Points per curve", "每条曲线的点数"),
        "explain_ig_steps": ("Integrated-gradients steps", "积分梯度步数"),
        "explain_btn": ("Build the atlas", "生成解释图集"),
        "explain_atlas": ("Atlas: each method at each stage", "图集：每种方法在每个阶段"),
        "explain_scores": ("Faithfulness scores", "忠实度得分"),
        "explain_curves": ("Deletion and insertion curves", "删除与插入曲线"),
        "sanity_btn": ("Run the sanity check", "运行合理性检验"),
        "sanity_plot": ("Sanity check: rank correlation after randomizing", "合理性检验：随机化后的秩相关"),
        "feature_stage": ("Stage of the feature maps", "特征图所在阶段"),
        "feature_k": ("Channels", "通道数"),
        "feature_btn": ("Show the most active feature maps", "显示最活跃的特征图"),
        "feature_grid": ("Feature maps over the crop", "裁剪图上的特征图"),
    }
)

# The rest of the page: the Classify tab's options and notices, labels that were English only.
UI.update(
    {
        "examples": ("Examples", "示例"),
        "path_fast": (
            "fast: folded BatchNorm, channels_last, bf16/fp16 where the hardware has it",
            "快速：折叠 BatchNorm、channels_last，硬件支持时用 bf16/fp16",
        ),
        "path_fp32": (
            "optimized fp32: folded BatchNorm, channels_last (same logits)",
            "优化的 fp32：折叠 BatchNorm、channels_last（logits 相同）",
        ),
        "path_plain": ("plain PyTorch fp32 (eager)", "原始 PyTorch fp32（eager）"),
        "throughput_chart": ("Training throughput against image size", "训练吞吐量与图像尺寸"),
        "shares_chart": ("EfficientNet-B0: share of MACs vs share of time", "EfficientNet-B0：乘加占比与耗时占比"),
        "diagram_a": ("Block diagram (first stage slider)", "模块图（第一个阶段滑块）"),
        "diagram_b": ("Block diagram (second stage slider)", "模块图（第二个阶段滑块）"),
        "scaling_chart": ("Layers per stage, V1 against V2", "每阶段层数：V1 与 V2"),
        "table3_table": ("Table 3: the paper beside this machine", "表 3：论文数据与本机对照"),
        "embedded_notice": (
            "Showing the embedded EfficientNet-Lite0 ({embedded}): the weights of {name} are not on this machine. "
            "To get them, run `python -m effnetv2 download {alias}` on a connected machine (it fills the Hugging "
            "Face cache).",
            "当前显示内置的 EfficientNet-Lite0（{embedded}）：本机没有 {name} 的权重。要获取它们，请在联网的机器上运行 "
            "`python -m effnetv2 download {alias}`（它会填充 Hugging Face 缓存）。",
        ),
        "weights_unusable": (
            "<strong>Pretrained weights for `{name}` are not usable:</strong> {why}",
            "<strong>`{name}` 的预训练权重不可用：</strong>{why}",
        ),
        "weights_install": (
            "<strong>Pretrained weights for `{name}`:</strong> {why}",
            "<strong>`{name}` 的预训练权重：</strong>{why}",
        ),
        "timing_line": (
            "**{ms:.1f} ms** — decoding, preprocessing and forward on {device}, {dtype} ({path}), served by "
            "{backend}, {checkpoint}",
            "**{ms:.1f} 毫秒** —— 在 {device} 上解码、预处理并前向计算，精度 {dtype}（{path}），由 {backend} 执行，"
            "{checkpoint}",
        ),
        "timing_warming": (
            " (the fast path is still being prepared in the background: plain PyTorch served this one)",
            "（快速路径仍在后台准备中：本次由原始 PyTorch 执行）",
        ),
        "v1_dotted_v2_solid": ("V1: dotted, V2: solid", "V1：虚线，V2：实线"),
        "share_percent": ("share (%)", "占比（%）"),
        "cam_caption": (
            "Grad-CAM at <strong>{stage}</strong> for class {index} <strong>{label}</strong>: p = {p:.1%} on the "
            "plain fp32 model that Grad-CAM differentiates",
            "在 <strong>{stage}</strong> 上对类别 {index} <strong>{label}</strong> 的 Grad-CAM：在 Grad-CAM 求导所用的"
            "原始 fp32 模型上 p = {p:.1%}",
        ),
        "cam_caption_shown": (
            "; the predictions show {p:.1%} ({path}, {dtype})",
            "；预测结果显示 {p:.1%}（{path}，{dtype}）",
        ),
        "weights_offline": (
            "HF_HUB_OFFLINE is set and they are not in the local cache",
            "已设置 HF_HUB_OFFLINE，且本地缓存中没有这些权重",
        ),
        "weights_not_cached": (
            "they are not in the local cache yet; the first classification will try to download them from the "
            "Hugging Face Hub",
            "本地缓存中还没有这些权重；第一次分类时会尝试从 Hugging Face Hub 下载",
        ),
        "weights_missing_how": (
            "<strong>Pretrained weights for `{name}`:</strong> {why}. To fix it, run `python -m effnetv2 download "
            "{alias}` on a machine with internet access (then copy the cache), or point `{env}` at a local "
            "`model.safetensors`. The Latency, Lab and Walkthrough tabs use randomly initialised models and work "
            "without any download.",
            "<strong>`{name}` 的预训练权重：</strong>{why}。解决方法：在能联网的机器上运行 `python -m effnetv2 "
            "download {alias}`（再复制缓存），或把 `{env}` 指向本地的 `model.safetensors`。延迟、实验室和论文导读"
            "标签页使用随机初始化的模型，无需任何下载即可使用。",
        ),
    }
)


# The Explain tab's tables, charts, summaries and verdicts (the server makes them: ``backend/explain.py``).
UI.update(
    {
        "x_method": ("method", "方法"),
        "x_stage": ("stage", "阶段"),
        "x_deletion_area": ("deletion area (low = faithful)", "删除曲线面积（越低越忠实）"),
        "x_insertion_area": ("insertion area (high = faithful)", "插入曲线面积（越高越忠实）"),
        "x_random_deletion": ("random deletion", "随机删除"),
        "x_random_insertion": ("random insertion", "随机插入"),
        "x_seconds": ("seconds", "秒"),
        "x_map_caption": (
            "{method} at {stage}: deletion {deletion:.2f}, insertion {insertion:.2f}",
            "{method} @ {stage}：删除 {deletion:.2f}，插入 {insertion:.2f}",
        ),
        "x_summary": (
            "Class {index} <strong>{label}</strong> (p = {p:.1%}); cells of {cell} px, {orders} random orders: "
            "deletion {deletion:.3f}, insertion {insertion:.3f}. A faithful map deletes below and inserts above "
            "chance. {maps} maps in {seconds:.1f} s.",
            "类别 {index} <strong>{label}</strong>（p = {p:.1%}）；单元格 {cell} 像素，{orders} 种随机顺序：删除 "
            "{deletion:.3f}，插入 {insertion:.3f}。忠实的解释图删除低于随机、插入高于随机。{maps} 张图，用时 "
            "{seconds:.1f} 秒。",
        ),
        "x_deletion_title": ("deletion (lower is better)", "删除（越低越好）"),
        "x_insertion_title": ("insertion (higher is better)", "插入（越高越好）"),
        "x_random": ("random", "随机"),
        "x_fraction_changed": ("fraction of cells changed", "被改变的单元格比例"),
        "x_class_probability": ("class probability", "类别概率"),
        "x_pass_line": ("pass below this after full randomization", "完全随机化后低于此线即通过"),
        "x_randomized_to": ("randomized down to (cumulative, head first)", "随机化到（累积，从 head 开始）"),
        "x_rank_correlation": ("Spearman rank correlation with the original map", "与原始解释图的 Spearman 秩相关"),
        "x_sanity_line": (
            "- <strong>{method}</strong>: {corr:+.2f} after full randomization: {verdict}",
            "- <strong>{method}</strong>：完全随机化后为 {corr:+.2f}：{verdict}",
        ),
        "x_failed": (
            "<strong>failed</strong> (its map hardly depends on the weights)",
            "<strong>未通过</strong>（其解释图几乎不依赖权重）",
        ),
        "x_passed": ("passed", "通过"),
        "x_all_passed": ("Every method passed.", "所有方法均通过。"),
        "x_some_failed": ("<strong>Failed: {}.</strong>", "<strong>未通过：{}。</strong>"),
        "x_feature_caption": (
            "<strong>{stage}</strong>: {channels} channels at {h}x{w}; the {k} most active (mean activation over "
            "the crop): {top}",
            "<strong>{stage}</strong>：{channels} 个通道，分辨率 {h}x{w}；最活跃的 {k} 个"
            "（在裁剪图上的平均激活）：{top}",
        ),
        # Labels of texts the server makes: not shown on the page (show_label is off), they name the API's outputs.
        "timing_label": ("Timing", "耗时"),
        "cam_caption_label": ("Grad-CAM caption", "Grad-CAM 说明"),
        "explain_summary": ("Atlas summary", "图集摘要"),
        "sanity_verdict": ("Sanity verdict", "合理性检验结论"),
        "feature_caption": ("Feature maps caption", "特征图说明"),
        "state_local": ("local file", "本地文件"),
        "state_cached": ("cached", "已缓存"),
        "state_embedded": ("embedded", "内置"),
        "state_download": ("needs a download", "需要下载"),
        "state_install": ("needs its package", "需要安装其软件包"),
        "target_info": ("-1 = the top-1 class", "-1 = 概率最高的类别"),
    }
)
