import Foundation
import FileIO
import VGGCore

/// keras.applications' VGG architectures by name, for Keras 3 `.weights.h5` files saved without their
/// config: the per-class counters (`conv2d_N`, `dense_N`, `batch_normalization_N`) give the order of the
/// weighted layers, and the name supplies what no weight records — where the pools are, 3×3 'same'
/// convolutions, ReLU, the 224×224 input and the softmax head. `_bn` variants put BatchNormalization
/// and a ReLU activation after each (linear) convolution, as torchvision's vgg*_bn do.
enum NamedVGG {
    /// The architecture `name` describes, with the head the weights show (none, or three Dense layers
    /// whose last has as many units as the stored `dense_2` bias).
    /// - Throws: `KerasFormatError.badConfig` for an unknown name.
    static func config(_ name: String, weights: HDF5Group, path: String) throws -> KerasArchitecture {
        let lower = name.lowercased()
        guard let (family, normalised) = VGGFamily.parse(name) else {
            throw KerasFormatError.badConfig(origin: "architecture \(SafeText.quote(name))", reason: "unknown architecture '\(SafeText.quote(name))'; expected \(VGGFamily.namesForMessages), optionally with _bn")
        }
        var layers: [[String: Any]] = [["class_name": "InputLayer", "config": ["name": "input_layer", "batch_shape": [NSNull(), 224, 224, 3]]]]
        for (block, (count, width)) in zip(family.convolutionsPerBlock, VGGFamily.blockWidths).enumerated() {
            for conv in 1...count {
                let convName = "block\(block + 1)_conv\(conv)"
                layers.append(["class_name": "Conv2D", "config": ["name": convName, "filters": width, "kernel_size": [3, 3],
                                                                   "padding": "same", "activation": normalised ? "linear" : "relu"]])
                if normalised {
                    layers.append(["class_name": "BatchNormalization", "config": ["name": "\(convName)_bn", "epsilon": SourceFramework.keras.batchNormEpsilon]])
                    layers.append(["class_name": "Activation", "config": ["name": "\(convName)_relu", "activation": "relu"]])
                }
            }
            layers.append(["class_name": "MaxPooling2D", "config": ["name": "block\(block + 1)_pool", "pool_size": [2, 2], "strides": [2, 2]]])
        }
        if weights.isGroup("dense_2/vars") {
            let classes = try weights.group("dense_2/vars").isDataset("1")
                ? try weights.group("dense_2/vars").dataset("1").shape().first ?? 1000 : 1000
            layers.append(["class_name": "Flatten", "config": ["name": "flatten"]])
            layers.append(["class_name": "Dense", "config": ["name": "fc1", "units": 4096, "activation": "relu"]])
            layers.append(["class_name": "Dense", "config": ["name": "fc2", "units": 4096, "activation": "relu"]])
            layers.append(["class_name": "Dense", "config": ["name": "predictions", "units": classes, "activation": "softmax"]])
        }
        let model: [String: Any] = ["class_name": "Functional", "config": ["name": lower, "layers": layers]]
        return try KerasArchitecture(json: try JSONSerialization.data(withJSONObject: model), origin: "keras.applications \(lower)")
    }
}
