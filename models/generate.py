#!/usr/bin/env python3
"""Writes the reference model declarations models/*.json.

The JSON files are the source of truth that taper reads; this script only
keeps the long ones (the ResNets) consistent. Run it from the repository
root after changing it: python3 models/generate.py
The architectures are those of the project's mission document (kept
outside this repository; docs/ describes them); vgg7-fmnist, resnet20 and
resnet20-preact match the PyTorch peer script (torch_anchor.py, also kept outside this
repository) layer for layer.
"""
import json, os

HERE = os.path.dirname(os.path.abspath(__file__))


def conv(name, out, k, stride=1, pad=0, groups=1, stage=None, bias=False, inp=None):
    d = {"name": name, "type": "conv", "out_channels": out, "kernel": k}
    if stride != 1: d["stride"] = stride
    if pad: d["padding"] = pad
    if groups != 1: d["groups"] = groups
    d["bias"] = bias
    if stage: d["stage"] = stage
    if inp: d["input"] = inp
    return d


def linear(name, out, stage=None, bias=False):
    d = {"name": name, "type": "linear", "out_features": out, "bias": bias}
    if stage: d["stage"] = stage
    return d


def simple(name, typ, **kw):
    d = {"name": name, "type": typ}
    d.update(kw)
    return d


def write(model):
    """One key per line at the top, one layer per line below it."""
    lines = ["{"]
    for key in ("name", "description", "input", "classes"):
        lines.append(f"  {json.dumps(key)}: {json.dumps(model[key])},")
    lines.append('  "layers": [')
    layers = model["layers"]
    for i, layer in enumerate(layers):
        lines.append("    " + json.dumps(layer) + ("," if i + 1 < len(layers) else ""))
    lines += ["  ]", "}"]
    with open(os.path.join(HERE, model["name"] + ".json"), "w") as f:
        f.write("\n".join(lines) + "\n")


def vgg(name, desc, input_shape, widths, fc, first_stage):
    """2 convs per pooling block, BN and a quantizable activation after every conv and the hidden FC."""
    layers, stage = [], first_stage
    for i, w in enumerate(widths):
        n = i + 1
        layers += [conv(f"conv{n}", w, 3, pad=1, stage=stage), simple(f"bn{n}", "batchnorm"), simple(f"act{n}", "qact")]
        stage += 1
        if i % 2 == 1:
            layers.append(simple(f"pool{n // 2}", "maxpool", kernel=2))
    layers += [simple("flatten", "flatten"), linear("fc1", fc, stage=stage), simple("bn_fc1", "batchnorm"),
               simple("act_fc1", "qact"), linear("fc_out", "classes", bias=True)]
    write({"name": name, "description": desc, "input": input_shape, "classes": 10, "layers": layers})


def basic_block(prefix, prev, cout, stride, stage, project):
    """conv-bn-act-conv-bn (+ projection conv-bn) add act: the ResNet basic block."""
    layers = [conv(f"{prefix}_conv1", cout, 3, stride=stride, pad=1, stage=stage, inp=prev),
              simple(f"{prefix}_bn1", "batchnorm"), simple(f"{prefix}_act1", "qact"),
              conv(f"{prefix}_conv2", cout, 3, pad=1, stage=stage), simple(f"{prefix}_bn2", "batchnorm")]
    shortcut = prev
    if project:
        layers += [conv(f"{prefix}_short", cout, 1, stride=stride, stage=stage, inp=prev),
                   simple(f"{prefix}_short_bn", "batchnorm")]
        shortcut = f"{prefix}_short_bn"
    layers += [simple(f"{prefix}_add", "add", inputs=[f"{prefix}_bn2", shortcut]), simple(f"{prefix}_act2", "qact")]
    return layers, f"{prefix}_act2"


def resnet(name, desc, input_shape, classes, stem, widths, blocks):
    layers, prev, c = list(stem), stem[-1]["name"], stem[0]["out_channels"]
    for s, (w, n) in enumerate(zip(widths, blocks)):
        for b in range(n):
            stride = 2 if (b == 0 and s > 0) else 1
            block, prev = basic_block(f"s{s + 1}b{b + 1}", prev, w, stride, s + 1, stride != 1 or c != w)
            layers += block
            c = w
    layers += [simple("pool", "globalavgpool"), linear("fc", "classes", bias=True)]
    write({"name": name, "description": desc, "input": input_shape, "classes": classes, "layers": layers})


vgg("vgg7-fmnist", "VGG-7 for Fashion-MNIST as in shared/bench/torch_anchor.py: 2x64c3 MP 2x128c3 MP "
    "2x256c3 MP FC512 FC10; BN and a quantizable activation after every conv and FC512; stages: the 6 convs "
    "and FC512; the output layer stays full precision.", [1, 28, 28], [64, 64, 128, 128, 256, 256], 512, 1)
vgg("vgg7", "The paper's CIFAR VGG-7: 2x128c3 MP 2x256c3 MP 2x512c3 MP FC1024 FC10; BN after every conv "
    "and FC1024; stages: conv1..6 and FC1024 (the first conv is quantized too); output full precision.",
    [3, 32, 32], [128, 128, 256, 256, 512, 512], 1024, 1)

resnet("resnet20", "ResNet-20 for CIFAR with 1x1 projection shortcuts (conv + BN) where the shape changes; "
       "stem conv and output layer full precision, stem activation plain ReLU; stages: the 3 residual stages.",
       [3, 32, 32], 10, [conv("conv1", 16, 3, pad=1), simple("bn1", "batchnorm"), simple("relu1", "relu")],
       [16, 32, 64], [3, 3, 3])


def preact_block(prefix, prev, cout, stride, stage, project):
    """DoReFa-Net's pre-activation block (tensorpack resnet-dorefa.py; PreBlock in
    shared/bench/torch_anchor.py): avg pool where the stride is 2, BN + qact before
    each conv, the identity shortcut full precision, a 1x1 conv shortcut on the
    activated input where the shape changes, nothing after the add."""
    layers = []
    if stride != 1:
        layers.append(simple(f"{prefix}_pool", "avgpool", kernel=stride, input=prev))
        prev = f"{prefix}_pool"
    layers += [simple(f"{prefix}_bn", "batchnorm", input=prev), simple(f"{prefix}_act", "qact"),
               conv(f"{prefix}_conv1", cout, 3, pad=1, stage=stage), simple(f"{prefix}_bn1", "batchnorm"),
               simple(f"{prefix}_act1", "qact"), conv(f"{prefix}_conv2", cout, 3, pad=1, stage=stage)]
    shortcut = prev
    if project:
        layers.append(conv(f"{prefix}_short", cout, 1, stage=stage, inp=f"{prefix}_act"))
        shortcut = f"{prefix}_short"
    layers.append(simple(f"{prefix}_add", "add", inputs=[shortcut, f"{prefix}_conv2"]))
    return layers, f"{prefix}_add"


def resnet_preact(name, desc, input_shape, classes, widths, blocks):
    layers, prev, c = [conv("conv1", widths[0], 3, pad=1)], "conv1", widths[0]
    for s, (w, n) in enumerate(zip(widths, blocks)):
        for b in range(n):
            stride = 2 if (b == 0 and s > 0) else 1
            block, prev = preact_block(f"s{s + 1}b{b + 1}", prev, w, stride, s + 1, stride != 1 or c != w)
            layers += block
            c = w
    layers += [simple("bn_final", "batchnorm"), simple("relu_final", "relu"), simple("pool", "globalavgpool"),
               linear("fc", "classes", bias=True)]
    write({"name": name, "description": desc, "input": input_shape, "classes": classes, "layers": layers})


resnet_preact("resnet20-preact", "ResNet-20 for CIFAR in DoReFa-Net's pre-activation layout (resnet20-preact "
              "in shared/bench/torch_anchor.py): full-precision stem conv; per block avg pool where the stride "
              "is 2, BN + quantizable activation before each conv, a full-precision identity shortcut, a 1x1 "
              "conv shortcut on the activated input where the shape changes, nothing after the add; a final BN "
              "+ plain ReLU before pooling; output layer full precision; stages: the 3 residual stages (Table "
              "I's counts).", [3, 32, 32], 10, [16, 32, 64], [3, 3, 3])
resnet("resnet18", "The standard ImageNet ResNet-18 (7x7/2 stem, 3x3/2 max pool, 1x1 projection shortcuts); "
       "stem and output layer full precision; stages: the 4 residual stages.",
       [3, 224, 224], 1000, [conv("conv1", 64, 7, stride=2, pad=3), simple("bn1", "batchnorm"),
                             simple("relu1", "relu"), simple("pool1", "maxpool", kernel=3, stride=2, padding=1)],
       [64, 128, 256, 512], [2, 2, 2, 2])

# AlexNet, the DoReFa-Net variant (mission.md): conv1 96@12x12/4 valid; conv2 256@5x5 pad 2 groups 2;
# max pool 3x3/2 pad 1; conv3 384@3x3 pad 1; max pool 3x3/2 pad 1; conv4 384@3x3 pad 1 groups 2;
# conv5 256@3x3 pad 1 groups 2; max pool 3x3/2 (54->27->14->6); fc6 9216->4096, fc7 4096->4096, fc8 ->1000.
alex = [conv("conv1", 96, 12, stride=4), simple("bn1", "batchnorm"), simple("relu1", "relu"),
        conv("conv2", 256, 5, pad=2, groups=2, stage=1), simple("bn2", "batchnorm"), simple("act2", "qact"),
        simple("pool2", "maxpool", kernel=3, stride=2, padding=1),
        conv("conv3", 384, 3, pad=1, stage=2), simple("bn3", "batchnorm"), simple("act3", "qact"),
        simple("pool3", "maxpool", kernel=3, stride=2, padding=1),
        conv("conv4", 384, 3, pad=1, groups=2, stage=3), simple("bn4", "batchnorm"), simple("act4", "qact"),
        conv("conv5", 256, 3, pad=1, groups=2, stage=4), simple("bn5", "batchnorm"), simple("act5", "qact"),
        simple("pool5", "maxpool", kernel=3, stride=2),
        simple("flatten", "flatten"),
        linear("fc6", 4096, stage=5), simple("bn6", "batchnorm"), simple("act6", "qact"),
        linear("fc7", 4096, stage=6), simple("bn7", "batchnorm"), simple("act7", "qact"),
        linear("fc8", "classes", bias=True)]
write({"name": "alexnet", "description": "AlexNet as in DoReFa-Net (mission.md): conv1 and the output layer full "
       "precision, conv1's activation plain ReLU; stages: conv2..5, fc6, fc7.",
       "input": [3, 224, 224], "classes": 1000, "layers": alex})

# LeNet-5 for 28x28 inputs: conv 6@5x5 pad 2, BN, act, MP2, conv 16@5x5, BN, act, MP2, FC120, BN, act,
# FC84, BN, act, FC-out. The first conv and the output layer stay full precision.
lenet = [conv("conv1", 6, 5, pad=2), simple("bn1", "batchnorm"), simple("relu1", "relu"),
         simple("pool1", "maxpool", kernel=2),
         conv("conv2", 16, 5, stage=1), simple("bn2", "batchnorm"), simple("act2", "qact"),
         simple("pool2", "maxpool", kernel=2), simple("flatten", "flatten"),
         linear("fc1", 120, stage=2), simple("bn3", "batchnorm"), simple("act3", "qact"),
         linear("fc2", 84, stage=3), simple("bn4", "batchnorm"), simple("act4", "qact"),
         linear("fc_out", "classes", bias=True)]
write({"name": "lenet5", "description": "LeNet-5 for 1x28x28 (MNIST, Fashion-MNIST); conv1 and the output "
       "layer full precision; stages: conv2, fc1, fc2.", "input": [1, 28, 28], "classes": 10, "layers": lenet})
