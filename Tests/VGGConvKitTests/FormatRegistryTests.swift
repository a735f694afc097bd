import Foundation
import TestSupport
import VGGConvKit
import FileIO
import VGGCore
import XCTest

/// A format added through `ModelFormat` alone: a toy container ("TOYVGG IN OUT\n", then the dense
/// layer's (out, in) weights and its bias as little-endian float32; the input is a 1-channel map of IN
/// pixels in one row, flattened) that this file defines and registers.
/// Nothing else in vggconv knows it, yet `convert`, `summary` and `inspect` read it through the registry.
struct ToyFormat: ModelFormat {
    static let magic = Array("TOYVGG ".utf8)
    var name: String { "toy" }
    func recognizes(_ probe: FileProbe) -> Bool { probe.prefix.starts(with: Self.magic) }

    func readModel(_ path: String, _ request: FormatRequest) throws -> SourceModel {
        let file = try MappedFile(path: path)
        let bytes = file.bytes(offset: 0, length: min(file.count, 64))
        guard let newline = bytes.firstIndex(of: 0x0A) else { throw VGGError.architecture(reason: "\(path): no header line") }
        let fields = String(decoding: bytes[..<newline], as: UTF8.self).split(separator: " ")
        guard fields.count == 3, let inputs = Int(fields[1]), let units = Int(fields[2]), inputs > 0, units > 0,
              file.count == newline + 1 + 4 * (inputs * units + units) else {
            throw VGGError.architecture(reason: "\(path): header does not match the data")
        }
        let start = newline + 1
        let kernel = SourceTensor(sourceName: "w", dtype: .float32, shape: [units, inputs], layout: .outIn,
                                  data: TensorData(file: file, offset: start, count: 4 * inputs * units), fileOffset: start)
        let bias = SourceTensor(sourceName: "b", dtype: .float32, shape: [units], layout: .vector,
                                data: TensorData(file: file, offset: start + 4 * inputs * units, count: 4 * units),
                                fileOffset: start + 4 * inputs * units)
        let layers = [
            SourceLayer(name: "x", type: .input, config: LayerConfig()),
            SourceLayer(name: "flatten", type: .flatten, config: LayerConfig()),
            SourceLayer(name: "toy_dense", type: .dense, config: LayerConfig(activation: Activation.linear.rawValue, useBias: true, units: units),
                        parameters: [SourceParameter(role: .kernel, tensor: kernel), SourceParameter(role: .bias, tensor: bias)]),
        ]
        return SourceModel(format: "toy", path: path, layers: layers, inputShape: [1, 1, inputs], dataFormat: .channelsFirst,
                           architectureInferred: false)
    }

    var capabilities: FormatCapabilities { FormatCapabilities(recordsArchitecture: true, recordsNesting: false, dtypes: [.float32]) }
}

final class FormatRegistryTests: XCTestCase {
    func testAToyFormatNeedsOnlyItsOwnTypeAndTheRegistry() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let (inputs, units) = (4, 3)
        let weights: [Float] = (0..<(inputs * units)).map { Float($0) * 0.5 - 2 }
        let bias: [Float] = [0.25, -1, 3]
        let path = scratch.file("model.toy")
        try (Data("TOYVGG \(inputs) \(units)\n".utf8) + weights.withUnsafeBytes { Data($0) } + bias.withUnsafeBytes { Data($0) })
            .write(to: URL(fileURLWithPath: path))

        FormatRegistry.register(ToyFormat())
        XCTAssertEqual(try FormatRegistry.format(of: path).name, "toy")

        let summary = try Summarizer.summary(path: path)
        XCTAssertEqual(summary.totalParams, inputs * units + units)
        XCTAssertEqual(summary.totalMacs, Decimal(inputs * units))
        // Canonical names (the last Dense is Keras's `predictions`), the toy's own keys beside them.
        let inventory = try TensorInventory.of(path: path).tensors
        XCTAssertEqual(inventory.map(\.name), ["predictions.weight", "predictions.bias"])
        XCTAssertEqual(inventory.map(\.sourceName), ["w", "b"])

        // Converted and run: y = W x + b, computed here from the same numbers.
        let native = scratch.file("model.vggw")
        _ = try Converter.convert(input: path, output: native, options: ConversionOptions())
        let x: [Float] = [1, -2, 0.5, 4]
        let input = scratch.file("x.npy")
        try NpyArray(dtype: .float32, shape: [1, 1, 1, inputs], bytes: x.withUnsafeBytes { Array($0) }).write(to: input)
        let output = try Prediction.run(model: native, input: input)
        let y = output.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let expected = (0..<units).map { o in (0..<inputs).reduce(bias[o]) { $0 + weights[o * inputs + $1] * x[$1] } }
        XCTAssertEqual(y.count, units)
        for (a, b) in zip(y, expected) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }
}
