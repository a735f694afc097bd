#!/usr/bin/env python3
"""Write a full-size VGG16 (138,357,544 parameters, random weights) with real tf-keras:
model.save('DIR/vgg16_tfkeras_model.h5') and save_weights('DIR/vgg16_tfkeras_weights.h5').
usage: make_vgg16_keras.py DIR"""
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import tf_keras

out = sys.argv[1]
model = tf_keras.applications.VGG16(weights=None)
model.save(os.path.join(out, "vgg16_tfkeras_model.h5"))
model.save_weights(os.path.join(out, "vgg16_tfkeras_weights.h5"))
print("params", model.count_params())
