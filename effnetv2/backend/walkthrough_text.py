"""The walkthrough of the EfficientNetV2 paper, in English and Simplified Chinese, as Markdown data.

Kept apart from the UI so that teachers can fix a sentence without reading Gradio code, and so that tests can
check that both languages say the same things (same sections, same numbers). Every number in the text comes
from the paper; numbers measured on this machine are filled in by the app at run time.

Chinese emphasis: CommonMark does not close ``**`` that follows full-width punctuation when a letter comes next
(``**在这里测量：**下面`` shows its asterisks), so such labels are written ``<strong>…</strong>``, which Gradio's
Markdown keeps; ``tests/test_app_logic.py`` renders every section to catch a stray marker.
"""

from __future__ import annotations

from .strings import DEFAULT_LANGUAGE, normalize_language

SECTIONS: tuple[str, ...] = (
    "intro",
    "problem_images",
    "progressive",
    "problem_depthwise",
    "blocks",
    "table3",
    "problem_scaling",
    "table4",
    "lite",
)
"""Walkthrough sections in reading order; each is one Markdown text per language."""

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "intro": """
## EfficientNetV2: smaller models and faster training

*Tan & Le, ICML 2021 (arXiv 2104.00298).*

EfficientNet (V1) reached high accuracy with few parameters and FLOPs, but it **trains slowly**. EfficientNetV2
starts from a study of *why*, names three problems, and fixes each one. This page tells that story, and each
problem is tied to a measurement that this app runs live, on the machine that serves it, so you can check the
claim rather than take it on trust.

Three ideas carry the paper:

1. **Fused-MBConv** in the early stages: one regular convolution instead of a 1x1 expansion plus a depthwise
   convolution.
2. **Non-uniform scaling**: later stages get more layers; the stages are not all grown by the same factor.
3. **Progressive learning**: train on small images first and grow them, with regularisation growing alongside.

The result, e.g. EfficientNetV2-S: 22M parameters, 8.8B FLOPs (multiply-adds), 83.9% ImageNet top-1
(84.9% with ImageNet-21k pre-training), as reported in the paper (Table 7).
""",
        "problem_images": """
### Problem 1: training with very large images is slow

EfficientNet V1 evaluates and trains at large resolutions (B4 at 380 px, B7 at 600 px). The cost of a
convolutional network grows with the number of pixels, roughly with the square of the side, and large images
also use more accelerator memory, so the batch must shrink, which slows training further.

**Measure it here:** the button below trains (forward + backward) a small model for a few steps at several
image sizes on this machine and plots **images per second against image size**.
""",
        "progressive": """
### Progressive learning

If small images train faster, train on them first. EfficientNetV2 divides training into stages: early stages
use small images and **weak** regularisation; later stages use larger images and **stronger** regularisation
(dropout, RandAugment, mixup). The paper's argument: a small image carries less information and needs less
regularisation; a large image needs more, or the network over-fits.

EfficientNetV2-S trains with sizes growing up to 300 px and is evaluated at 384 px; M and L train up to 384 and
are evaluated at 480; XL trains up to 384 and is evaluated at 512. The throughput chart above shows what the
small early sizes buy: more images per second, and room for bigger batches.
""",
        "problem_depthwise": """
### Problem 2: depthwise convolutions are slow in early layers

MBConv, the block of MobileNetV2 and EfficientNet V1, is a 1x1 *expansion* convolution, a *depthwise* kxk
convolution and a 1x1 *projection*. Depthwise convolutions have few parameters and few multiply-adds, but they
cannot use modern accelerators (or the wide vector units of a CPU) fully: they do little arithmetic for every
byte they move. In the early stages, where feature maps are large and channels few, this matters most.

**Fused-MBConv** replaces the 1x1 expansion and the depthwise kxk convolution with **one regular kxk
convolution**. It has more parameters and more multiply-adds, yet it can run faster, because the hardware is
used better.

**Measure it here:** the button below times every stage of EfficientNet-B0 (all MBConv) on this machine and
plots each stage's **share of multiply-adds against its share of time**. Where the time bar is taller than the
MACs bar, the stage costs more than its arithmetic suggests.
""",
        "blocks": """
### MBConv and Fused-MBConv, drawn from the model definition

The diagrams below are drawn by the app from a stage of the selected model (channels, kernel, expansion, SE),
not copied from the paper. SE = squeeze-and-excitation: a small gate that reweights channels; in
EfficientNetV2 only MBConv stages use it (ratio 0.25), Fused-MBConv stages do not.

The rules of a switch (the `blocks` letters, one per stage 1-N: F = Fused-MBConv, M = MBConv): a stage
switched to Fused-MBConv loses its SE; a stage switched to MBConv gets SE 0.25; expansion, kernel, stride,
channels and layers stay. So an expansion-1 stage switched to MBConv stays expansion 1 (depthwise kxk + SE +
1x1 projection), and an expansion-1 stage switched to Fused-MBConv is a single kxk conv.
""",
        "table3": """
### Table 3 of the paper: where should Fused-MBConv go?

The paper replaced the MBConv blocks of EfficientNet-B4 by Fused-MBConv in stages 1-3, 1-5 and 1-7 and measured
training speed. Fusing the **early** stages trains faster for a small cost in parameters and FLOPs; fusing
**every** stage adds many parameters and FLOPs and slows training down again. That is why EfficientNetV2
uses Fused-MBConv only in its early stages, and a search (training-aware NAS) chose where.

Parameters and multiply-adds in the middle columns are counted by this app from the same variants; the last
columns are measured on this machine when you press the button (random weights: speed and size only, no
accuracy; the paper measured TPUv3 and V100 GPUs, so expect other ratios on a CPU).
""",
        "problem_scaling": """
### Problem 3: scaling every stage up equally is sub-optimal

EfficientNet V1 grows B0 into B1-B7 with *compound scaling*: one multiplier for depth, one for width and one for
resolution, applied **equally to every stage**. But the stages do not contribute equally to training speed or
accuracy. EfficientNetV2 uses a **non-uniform** scaling strategy that gradually adds more layers to **later**
stages.

**Compare it here:** the chart counts the layers of each stage in the model definitions of this app: V1 B0-B7
grow every stage by the same depth factor, while V2-S, M, L and XL put their extra layers into the later stages.
""",
        "table4": """
### The stage table of the selected model (like the paper's Table 4)

Parameters and multiply-adds are counted by the app for the chosen model, operator letters (F/M) and image size.
""",
        "lite": """
### A third point in the family: EfficientNet-Lite

EfficientNet-Lite is EfficientNet (V1) reworked for phones and edge accelerators such as the Edge TPU. It keeps
V1's stage table and compound scaling but drops what those chips handle badly: squeeze-and-excitation, the swish
(SiLU) activation, replaced by ReLU6, whose bounded output makes 8-bit quantization easy, and the growth of the
stem and head with width (they stay at 32 and 1280 channels; the first and last stages keep their depth). Lite0
has 4.65M parameters and 0.39 GMACs at 224 px, against 7.14M and 0.72 GMACs for EfficientNetV2-B0. Fewer
multiply-adds do not make it much faster on a CPU: V2-B0's dense Fused-MBConv stages use a CPU better than Lite's
depthwise convolutions, the paper's second problem again. In this app it is also the model that always works:
its real ImageNet weights install with a pip package, so predictions and Grad-CAM run without any download.
""",
    },
    "zh-CN": {
        "intro": """
## EfficientNetV2：更小的模型，更快的训练

*Tan & Le，ICML 2021（arXiv 2104.00298）。*

EfficientNet（V1）用很少的参数量和 FLOPs 达到了很高的精度，但它**训练很慢**。EfficientNetV2 从分析
*为什么慢*出发，指出了三个问题，并逐一解决。本页讲述这个故事，每个问题都对应一个由本应用在当前这台机器上
实时运行的测量，你可以亲自验证结论，而不必只是相信。

论文的三个核心思想：

1. 在早期阶段使用 **Fused-MBConv**：用一个普通卷积替代 1x1 扩展卷积加深度可分离（depthwise）卷积。
2. **非均匀缩放**：后面的阶段获得更多的层，而不是所有阶段按同一比例放大。
3. **渐进式学习**：先用小图像训练，再逐步增大图像，同时逐步加强正则化。

结果，例如 EfficientNetV2-S：2200 万（22M）参数，8.8B FLOPs（乘加次数），ImageNet top-1 83.9%
（使用 ImageNet-21k 预训练时为 84.9%），数据来自论文（表 7）。
""",
        "problem_images": """
### 问题一：使用很大的图像训练很慢

EfficientNet V1 在很大的分辨率下训练和评估（B4 为 380 像素，B7 为 600 像素）。卷积网络的计算量随像素数
增长，大致与边长的平方成正比；大图像还占用更多的加速器显存，批大小（batch）只能减小，训练因此更慢。

<strong>在这里测量：</strong>下面的按钮在本机上以几种图像尺寸训练（前向 + 反向）一个小模型若干步，并画出
**每秒图像数与图像尺寸的关系**。
""",
        "progressive": """
### 渐进式学习

既然小图像训练更快，那就先用小图像训练。EfficientNetV2 把训练分成若干阶段：早期阶段使用小图像和**较弱**
的正则化；后期阶段使用大图像和**更强**的正则化（dropout、RandAugment、mixup）。论文的理由是：小图像包含
的信息少，需要的正则化也少；大图像需要更强的正则化，否则网络会过拟合。

EfficientNetV2-S 训练时图像尺寸逐步增大到 300 像素，评估时使用 384 像素；M 和 L 训练到 384，评估用 480；
XL 训练到 384，评估用 512。上面的吞吐量图显示了早期小尺寸带来的好处：每秒处理更多图像，并可使用更大的批。
""",
        "problem_depthwise": """
### 问题二：深度可分离卷积在早期层中很慢

MBConv 是 MobileNetV2 和 EfficientNet V1 的基本模块，由 1x1 *扩展*卷积、kxk *深度*（depthwise）卷积和
1x1 *投影*卷积组成。深度卷积的参数量和乘加次数都很少，但它无法充分利用现代加速器（或 CPU 的宽向量单元）：
每搬运一个字节只做很少的运算。在特征图大、通道少的早期阶段，这一点影响最大。

**Fused-MBConv** 把 1x1 扩展卷积和 kxk 深度卷积替换为**一个普通的 kxk 卷积**。它的参数量和乘加次数更多，
却可能运行得更快，因为硬件被利用得更充分。

<strong>在这里测量：</strong>下面的按钮在本机上对 EfficientNet-B0（全部为 MBConv）的每个阶段计时，并画出每个阶段
**乘加次数的占比与耗时占比**。耗时柱高于乘加柱的阶段，其实际开销大于运算量所显示的开销。
""",
        "blocks": """
### MBConv 与 Fused-MBConv：由模型定义直接绘制

下面的结构图由本应用根据所选模型的一个阶段（通道数、卷积核、扩展比、SE）绘制，而非从论文中复制。
SE 即 squeeze-and-excitation（压缩-激励）：一个为各通道重新加权的小门控；在 EfficientNetV2 中只有 MBConv
阶段使用它（比例 0.25），Fused-MBConv 阶段不使用。

切换规则（`blocks` 字母，每个阶段 1-N 一个：F = Fused-MBConv，M = MBConv）：切换为 Fused-MBConv 的阶段去掉
SE；切换为 MBConv 的阶段带 SE 0.25；扩展比、卷积核、步长、通道数和层数保持不变。因此扩展比为 1 的阶段切换为
MBConv 后仍为扩展比 1（深度卷积 kxk + SE + 1x1 投影），切换为 Fused-MBConv 后则是单个 kxk 卷积。
""",
        "table3": """
### 论文表 3：Fused-MBConv 应该放在哪里？

论文把 EfficientNet-B4 中第 1-3、1-5 和 1-7 阶段的 MBConv 替换为 Fused-MBConv，并测量训练速度。只替换
**早期**阶段时，训练更快，参数量和 FLOPs 只略有增加；替换**所有**阶段会增加大量参数和 FLOPs，训练反而
变慢。因此 EfficientNetV2 只在早期阶段使用 Fused-MBConv，具体位置由搜索（训练感知的 NAS）决定。

中间几列的参数量和乘加次数由本应用对相同的变体计算得出；最后几列在你按下按钮后于本机测量（随机权重：
只比较速度和大小，不比较精度；论文在 TPUv3 和 V100 GPU 上测量，CPU 上的比例会有所不同）。
""",
        "problem_scaling": """
### 问题三：所有阶段等比例放大并非最优

EfficientNet V1 用*复合缩放*把 B0 放大为 B1-B7：深度、宽度和分辨率各一个倍数，**所有阶段一视同仁**。
但各阶段对训练速度和精度的贡献并不相同。EfficientNetV2 采用**非均匀**缩放策略，逐步把更多的层加到
**后面的**阶段。

<strong>在这里比较：</strong>下图统计本应用模型定义中每个阶段的层数：V1 的 B0-B7 每个阶段按同一深度倍数增长，
而 V2 的 S、M、L、XL 把增加的层放在后面的阶段。
""",
        "table4": """
### 所选模型的阶段表（类似论文表 4）

参数量和乘加次数由本应用针对所选模型、算子字母（F/M）和图像尺寸计算。
""",
        "lite": """
### 家族中的第三个点：EfficientNet-Lite

EfficientNet-Lite 是为手机和边缘加速器（如 Edge TPU）改造的 EfficientNet（V1）。它沿用 V1 的阶段表和复合缩放，
但去掉了这些芯片不擅长的部分：挤压-激励模块（SE）；swish（SiLU）激活，换成输出有上界、便于 8 位整数量化的
ReLU6；以及随宽度放大的 stem 和 head（固定为 32 和 1280 个通道，第一个和最后一个阶段的层数也不增加）。Lite0 在
224 像素下有 4.65M 参数、0.39 GMACs，而 EfficientNetV2-B0 为 7.14M 参数、0.72 GMACs。乘加次数少并不意味着在 CPU
上快很多：V2-B0 的 Fused-MBConv 阶段是稠密卷积，比 Lite 的逐通道（depthwise）卷积更能发挥 CPU 的算力，这正是论文
指出的第二个问题。在本应用中，它也是始终可用的模型：真实的 ImageNet 权重随 pip 包一起安装，无需任何下载即可进行
预测和 Grad-CAM。
""",
    },
}


def section(key: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """The Markdown of one walkthrough section."""
    if key not in SECTIONS:
        raise KeyError(f"unknown walkthrough section {key!r}; known: {', '.join(SECTIONS)}")
    return _TEXT[normalize_language(lang)][key].strip()


def sections(lang: str = DEFAULT_LANGUAGE) -> dict[str, str]:
    return {key: section(key, lang) for key in SECTIONS}
