import Foundation
import TestSupport
import VGGConvKit
import FileIO
import VGGCore
import XCTest

/// BatchNormalization with scale=False / center=False and a non-default epsilon, written by tf-keras.
final class BatchNormVariantsTests: XCTestCase {
    func testMissingGammaOrBetaAndEpsilonAreKept() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let expected = try Samples.expectedTensors("bn_variants")
        XCTAssertEqual(Set(expected.keys), [
            "block1_conv1.weight", "block1_conv1.bias",
            "block1_conv1_bn.bias", "block1_conv1_bn.running_mean", "block1_conv1_bn.running_var",
            "fc1.weight", "fc1.bias", "fc1_bn.weight", "fc1_bn.running_mean", "fc1_bn.running_var",
            "predictions.weight", "predictions.bias",
        ])
        for file in ["bn_variants_tfkeras_model.h5", "bn_variants_tfkeras_weights.h5"] {
            let output = scratch.file(file + ".vggw")
            _ = try Converter.kerasToNative(input: Samples.path(file), options: ConversionOptions(output: output))
            let native = try NativeFile(path: output)
            XCTAssertEqual(Set(native.header.tensors.map(\.name)), Set(expected.keys), file)
            for tensor in native.header.tensors {
                let want = try XCTUnwrap(expected[tensor.name])
                XCTAssertEqual(tensor.shape, want.shape, "\(file) \(tensor.name)")
                XCTAssertTrue(native.withBytes(of: tensor) { Array($0) == want.bytes }, "\(file) \(tensor.name)")
            }
            let layers = native.header.architecture.layers
            let convNorm = try XCTUnwrap(layers.first { $0.name == "block1_conv1_bn" })
            XCTAssertEqual(convNorm.config.scale, false, file)
            let denseNorm = try XCTUnwrap(layers.first { $0.name == "fc1_bn" })
            XCTAssertEqual(denseNorm.config.center, false, file)
            XCTAssertEqual(denseNorm.outputShape, [6])
            if file.contains("model") {  // the weights-only file has no config, so epsilon is assumed
                XCTAssertEqual(convNorm.config.epsilon, 1e-5)
                XCTAssertEqual(layers.first { $0.name == "block1_conv1" }?.config.activation, "linear")
            }
        }
    }
}
