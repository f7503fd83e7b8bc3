"""The app's interface strings in English and Simplified Chinese, and how a language is chosen.

One key per label, used through ``gr.I18n`` (the browser's locale picks) and for text the server makes
(chart titles, table headers). To add a string: add a key to ``UI`` with both languages, then use
``i18n("key")`` in ``app.py`` or ``ui_text("key", lang)`` in the back end. The walkthrough's prose lives in
:mod:`effnetv2.backend.walkthrough_text`, the paper's numbers in :mod:`effnetv2.paper`.
"""

from __future__ import annotations

import re

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
        "Machine {level}: load average {load} on {cores} cores, identical runs spread ±{spread}%. {threads}",
        "机器{level}：{cores} 核上的平均负载为 {load}，相同运行的波动为 ±{spread}%。{threads}",
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
