import Foundation
import TestSupport
import VGGConvKit
import FileIO
import VGGCore
import XCTest

/// `vggconv summary` against the text Keras itself printed for the same models
/// (samples/summaries/, captured by the generator from tf-keras 2.21 and Keras 3.15).
final class SummaryTests: XCTestCase {
    private func keras(_ capture: String) throws -> String {
        try String(contentsOfFile: Samples.path("summaries/\(capture)"), encoding: .utf8)
    }

    private func assertSummary(_ arguments: [String], equals capture: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try runProcess(vggconvExecutable, ["summary"] + arguments)
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        XCTAssertEqual(result.stdout, try keras(capture), "summary \(arguments.joined(separator: " "))", file: file, line: line)
    }

    func testKeras3ArchivesPrintExactlyWhatKeras3Prints() throws {
        for model in ["vgg_small", "vgg_bn", "vgg_dropout", "vgg_notop"] {
            try assertSummary([Samples.path("\(model)_keras3.keras")], equals: "\(model)_keras3.txt")
            try assertSummary([Samples.path("\(model)_keras3_model.h5")], equals: "\(model)_keras3.txt")
        }
    }

    func testKeras2FilesPrintExactlyWhatTfKerasPrints() throws {
        for model in ["vgg_small", "vgg_bn", "vgg_dropout", "vgg_notop"] {
            try assertSummary([Samples.path("\(model)_tfkeras_model.h5"), "--style", "keras2"], equals: "\(model)_tfkeras.txt")
            // The same file re-stored by h5py (fixed-length strings, newest format): the same summary.
            for variant in ["chunked", "latest"] {
                try assertSummary([Samples.path("\(model)_tfkeras_model_h5py_\(variant).h5"), "--style", "keras2"], equals: "\(model)_tfkeras.txt")
            }
        }
    }

    func testArchitectureJSONAloneAndWithWeightsOnlyFile() throws {
        try assertSummary([Samples.path("generic_tfkeras_config.json"), "--style", "keras2"], equals: "generic_tfkeras.txt")
        try assertSummary([Samples.path("generic_tfkeras_weights.h5"), "--config", Samples.path("generic_tfkeras_config.json"),
                           "--style", "keras2"], equals: "generic_tfkeras.txt")
        // Full-size keras.applications VGG16 (functional, with an InputLayer row): 138,357,544 params.
        try assertSummary([Samples.path("vgg16_tfkeras_config.json"), "--style", "keras2"], equals: "vgg16_tfkeras.txt")
    }

    func testJSONCarriesMACsAndParameterBytes() throws {
        let summary = try Summarizer.summary(path: Samples.path("vgg16_tfkeras_config.json"))
        XCTAssertEqual(summary.totalParams, 138_357_544)
        XCTAssertEqual(summary.totalMacs, 15_470_264_320)  // the published 15.47 GMACs of VGG16 at 224x224
        XCTAssertEqual(summary.paramBytesByDType, ["float32": 138_357_544 * 4])
        XCTAssertEqual(summary.rows.first { $0.name == "fc1" }?.macs, 25088 * 4096)
        let result = try vggconv("summary", Samples.path("vgg_small_keras3.keras"), "--json")
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertNotNil(object["total_macs"])
        XCTAssertEqual((object["rows"] as? [Any])?.count, Samples.models["vgg_small"]?.layers.count)
    }

    /// MACs are exact past 2^63 (they saturated at 9223372036854775807): 40 convolutions of 65,536
    /// 64x64 filters over a 128x128x65,536 input, each 128*128*65,536 outputs x 64*64 x 65,536 inputs
    /// = 2^58 multiply-accumulates, so 40 * 2^58 in all.
    func testMACsAreExactBeyondSixtyThreeBits() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let conv = #"{"class_name": "Conv2D", "config": {"name": "c%d", "filters": 65536, "kernel_size": [64, 64], "padding": "same", "activation": "relu"}}"#
        let layers = [#"{"class_name": "InputLayer", "config": {"name": "x", "batch_input_shape": [null, 128, 128, 65536]}}"#]
            + (0..<40).map { conv.replacingOccurrences(of: "%d", with: String($0)) }
        let json = #"{"class_name": "Sequential", "config": {"name": "huge", "layers": ["# + layers.joined(separator: ", ") + "]}}"
        let path = scratch.file("huge.json")
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        let result = try vggconv("summary", path, "--json")
        XCTAssertEqual(result.status, 0, result.stderr)
        let expected = Decimal(40) * pow(Decimal(2), 58)
        XCTAssertEqual("\(expected)", "11529215046068469760")
        XCTAssertTrue(result.stdout.contains("\"total_macs\" : 11529215046068469760"), result.stdout.suffix(800).description)
    }

    func testPyTorchFilesGiveTheKerasRowsAndTotals() throws {
        for model in ["vgg_small", "vgg_bn", "vgg_dropout", "vgg_notop"] {
            let shape: [Int]? = model == "vgg_notop" ? [32, 32, 3] : nil  // a state_dict without a head records no input size
            let fromKeras = try Summarizer.summary(path: Samples.path("\(model)_keras3.keras"))
            let fromTorch = try Summarizer.summary(path: Samples.path("\(model).pth"), inputShape: shape)
            XCTAssertEqual(fromTorch.rows.map(\.name), fromKeras.rows.map(\.name), model)
            XCTAssertEqual(fromTorch.rows.map(\.type), fromKeras.rows.map(\.type), model)
            XCTAssertEqual(fromTorch.rows.map(\.outputShape), fromKeras.rows.map(\.outputShape), model)
            XCTAssertEqual(fromTorch.rows.map(\.params), fromKeras.rows.map(\.params), model)
            XCTAssertEqual(fromTorch.totalParams, Samples.models[model]?.paramsTotal, model)
            XCTAssertEqual(fromTorch.trainableParams, Samples.models[model]?.paramsTrainable, model)
            XCTAssertTrue(fromTorch.showsSourceColumn)
        }
        let text = try vggconv("summary", Samples.path("vgg_bn.pth"))
        XCTAssertTrue(text.stdout.contains("│ block1_conv1_bn (BatchNormalization) │ (None, 32, 32, 8)           │              32 │ 1              │"), text.stdout)
    }

    func testConvertingWithConfigGivesKerasWeightsInCanonicalLayout() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let output = scratch.file("generic.vggw")
        _ = try Converter.kerasToNative(input: Samples.path("generic_tfkeras_weights.h5"),
                                        options: ConversionOptions(output: output, configPath: Samples.path("generic_tfkeras_config.json")))
        let native = try NativeFile(path: output)
        let expected = try Samples.expectedTensors("generic")
        XCTAssertEqual(Set(native.header.tensors.map(\.name)), Set(expected.keys))
        for tensor in native.header.tensors {
            let want = try XCTUnwrap(expected[tensor.name])
            XCTAssertEqual(tensor.shape, want.shape, tensor.name)
            XCTAssertTrue(native.withBytes(of: tensor) { Array($0) == want.bytes }, tensor.name)
        }
        XCTAssertEqual(native.header.architecture.layers.first { $0.name == "block1_pool" }?.outputShape, [6, 8, 8])
        XCTAssertEqual(native.header.architecture.layers.first { $0.name == "block2_conv3" }?.outputShape, [8, 3, 3])
    }

    func testAnInputTooSmallNamesTheFirstLayerThatCannotFollow() throws {
        let result = try vggconv("summary", Samples.path("vgg_small_keras3.keras"), "--input-shape", "8,8,3")
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("layer block4_pool (type MaxPooling2D) at position"), result.stderr)
        let bad = try vggconv("summary", Samples.path("vgg_small_keras3.keras"), "--input-shape", "8,8")
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("--input-shape needs three integers H,W,C from 1 to"), bad.stderr)
    }
}
