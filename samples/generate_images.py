#!/usr/bin/env python3
"""Real photographs and what the frameworks make of them, for vggconv's image commands (`make samples`).

The photographs ship inside scikit-image's wheel (skimage/data); their licences are recorded in
samples/images/LICENSES.md. Two are committed as they are (rocket.jpg, chelsea.png); the others are
re-encoded smaller by Pillow here, which also gives the decoders a progressive JPEG, a grayscale PNG, an
RGBA PNG and a palette PNG. For every image the generator records, from the frameworks themselves:
- the CRC-32 of Pillow's decoded RGB pixels (vggconv must decode bit for bit the same);
- the 224x224 images Keras's load_img (nearest) and torchvision's Resize(256)+CenterCrop(224) produce,
  and for rocket.jpg the final preprocessed tensors of both (samples/images/golden.npz);
- with the 32x32 sample models: top-5 predictions of tf-keras (vgg_small_tfkeras_model.h5, Keras
  preprocessing) and of PyTorch (vgg_small.pth, torchvision preprocessing at Resize(36)+CenterCrop(32)),
  the last pooling layer's features (Keras sub-model, PyTorch forward hook) and a Grad-CAM computed with
  PyTorch autograd at the last convolution (samples/images/golden_models.npz, manifest.json).
"""
import io
import json
import os
import shutil
import sys
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import numpy as np
import skimage
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "images")
DATA = os.path.join(os.path.dirname(skimage.__file__), "data")
sys.path.insert(0, HERE)
import generate  # noqa: E402  (the sample models' PyTorch twin)

LICENSES = """# Photographs (from scikit-image's wheel, skimage/data; licences as skimage.data's docstrings state them)

| file | source | licence |
|---|---|---|
| rocket.jpg | skimage `rocket.jpg`: launch of DSCOVR on Falcon 9, by SpaceX | public domain (released by SpaceX, 2015) |
| hubble_deep_field_small.jpg | skimage `hubble_deep_field.jpg`, by NASA; re-encoded here (progressive JPEG, half size) | public domain (NASA) |
| chelsea.png | skimage `chelsea.png`: Stefan van der Walt's cat | CC0 (photographer Stefan van der Walt) |
| chelsea_rgba.png | `chelsea.png` with an alpha channel added here, half size | CC0 |
| astronaut_q90.jpg | skimage `astronaut.png`: Eileen Collins, by NASA; re-encoded here as JPEG quality 90, 256x256 | public domain (NASA) |
| coffee_gray.png | skimage `coffee.png`, courtesy of Pikolo Espresso Bar; grayscale and half size here | CC0 (photographer Rachel Michetti) |
| coffee_palette.png | `coffee.png` quantised to 64 colours here, half size | CC0 |
"""


def write_images():
    os.makedirs(OUT, exist_ok=True)
    shutil.copy(os.path.join(DATA, "rocket.jpg"), os.path.join(OUT, "rocket.jpg"))
    shutil.copy(os.path.join(DATA, "chelsea.png"), os.path.join(OUT, "chelsea.png"))
    hubble = Image.open(os.path.join(DATA, "hubble_deep_field.jpg"))
    hubble.resize((hubble.width // 2, hubble.height // 2), Image.BILINEAR).save(
        os.path.join(OUT, "hubble_deep_field_small.jpg"), quality=85, progressive=True)
    chelsea = Image.open(os.path.join(DATA, "chelsea.png")).convert("RGB")
    half = chelsea.resize((chelsea.width // 2, chelsea.height // 2), Image.BILINEAR)
    rgba = half.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(half.size))
    rgba.save(os.path.join(OUT, "chelsea_rgba.png"))
    Image.open(os.path.join(DATA, "astronaut.png")).convert("RGB").resize((256, 256), Image.BILINEAR).save(
        os.path.join(OUT, "astronaut_q90.jpg"), quality=90)
    coffee = Image.open(os.path.join(DATA, "coffee.png")).convert("RGB")
    coffee = coffee.resize((coffee.width // 2, coffee.height // 2), Image.BILINEAR)
    coffee.convert("L").save(os.path.join(OUT, "coffee_gray.png"))
    coffee.quantize(64).save(os.path.join(OUT, "coffee_palette.png"))
    with open(os.path.join(OUT, "LICENSES.md"), "w") as f:
        f.write(LICENSES)
    return sorted(n for n in os.listdir(OUT) if n.endswith((".jpg", ".png")))


def torch_preprocess(size, crop):
    return transforms.Compose([transforms.Resize(size), transforms.CenterCrop(crop)])


def main():
    import tf_keras
    names = write_images()
    manifest = {"images": {}, "models": {}}
    golden = {}
    for name in names:
        path = os.path.join(OUT, name)
        rgb = Image.open(path).convert("RGB")
        keras_224 = tf_keras.utils.img_to_array(tf_keras.utils.load_img(path, target_size=(224, 224))).astype(np.uint8)
        torch_224 = np.asarray(torch_preprocess(256, 224)(Image.open(path).convert("RGB")))
        golden[f"{name}:keras_224"] = keras_224
        golden[f"{name}:torch_224"] = torch_224
        manifest["images"][name] = {"width": rgb.width, "height": rgb.height, "mode": Image.open(path).mode,
                                    "decoded_crc32": zlib.crc32(rgb.tobytes())}
        if name == "rocket.jpg":
            from tf_keras.applications.vgg16 import preprocess_input
            golden[f"{name}:keras_tensor"] = preprocess_input(tf_keras.utils.img_to_array(tf_keras.utils.load_img(path, target_size=(224, 224))))
            tensor = transforms.Compose([torch_preprocess(256, 224), transforms.ToTensor(),
                                         transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])(Image.open(path).convert("RGB"))
            golden[f"{name}:torch_tensor"] = tensor.numpy()
    np.savez_compressed(os.path.join(OUT, "golden.npz"), **golden)

    # The 32x32 sample models on the photos, each with its framework's preprocessing.
    from tf_keras.applications.vgg16 import preprocess_input
    keras_model = tf_keras.models.load_model(os.path.join(HERE, "vgg_small_tfkeras_model.h5"), compile=False)
    keras_x = np.stack([preprocess_input(tf_keras.utils.img_to_array(tf_keras.utils.load_img(os.path.join(OUT, n), target_size=(32, 32))))
                        for n in names])
    keras_probabilities = keras_model.predict(keras_x, verbose=0)
    pool = tf_keras.Model(keras_model.inputs, keras_model.get_layer("block4_pool").output)
    keras_features = pool.predict(keras_x, verbose=0)

    twin, _ = generate.torch_twin(generate.MODELS["vgg_small"])
    twin.load_state_dict(torch.load(os.path.join(HERE, "vgg_small.pth"), weights_only=True))
    twin.eval()
    normalize = transforms.Compose([torch_preprocess(36, 32), transforms.ToTensor(),
                                    transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    torch_x = torch.stack([normalize(Image.open(os.path.join(OUT, n)).convert("RGB")) for n in names])
    last_conv_relu = max(i for i, m in enumerate(twin) if isinstance(m, torch.nn.Conv2d)) + 1
    last_pool = max(i for i, m in enumerate(twin) if isinstance(m, torch.nn.MaxPool2d))
    captured = {}
    twin[last_pool].register_forward_hook(lambda m, i, o: captured.__setitem__("pool", o.detach()))
    def keep_conv(module, inputs, output):
        output.retain_grad()
        captured["conv"] = output
    twin[last_conv_relu].register_forward_hook(keep_conv)
    logits_model = twin[:-1]  # without the Softmax: Grad-CAM takes the class score before softmax
    logits = logits_model(torch_x)
    torch_probabilities = torch.softmax(logits, dim=1).detach().numpy()
    top = logits.argmax(dim=1)
    logits.gather(1, top[:, None]).sum().backward()
    activations, gradients = captured["conv"].detach(), captured["conv"].grad
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * activations).sum(dim=1, keepdim=True))
    cam_upsampled = F.interpolate(cam, size=(32, 32), mode="bilinear", align_corners=False)
    np.savez_compressed(os.path.join(OUT, "golden_models.npz"),
                        keras_features=keras_features, torch_features=captured["pool"].numpy(),
                        torch_gradcam=cam[:, 0].numpy(), torch_gradcam_upsampled=cam_upsampled[:, 0].numpy(),
                        keras_probabilities=keras_probabilities, torch_probabilities=torch_probabilities)
    manifest["models"] = {
        "order": names,
        "keras": {"model": "vgg_small_tfkeras_model.h5", "size": [32, 32],
                  "top5": [np.argsort(-p)[:5].tolist() for p in keras_probabilities]},
        "torch": {"model": "vgg_small.pth", "size": [32, 32], "resize": 36,
                  "top5": [np.argsort(-p)[:5].tolist() for p in torch_probabilities],
                  "gradcam_class": top.tolist(), "gradcam_layer": "block4_conv3"},
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"wrote {len(names)} images and their goldens")


if __name__ == "__main__":
    main()
