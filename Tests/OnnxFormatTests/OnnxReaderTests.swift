import Foundation
import OnnxFormat
import TestSupport
import VGGConvKit
import FileIO
import VGGCore
import XCTest

/// The ONNX reader on files the real exporters wrote (samples/generate_onnx.py: torch.onnx at opsets 7
/// to 17, tf2onnx from tf-keras, external data) and on damaged bytes.
final class OnnxReaderTests: XCTestCase {
    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    struct Entry: Decodable { let model: String; let input: String; let layout: String; let opset: Int; let ops: [String] }
    static let manifest: [String: Entry] = {
        struct File: Decodable { let files: [String: Entry] }
        let data = try! Data(contentsOf: URL(fileURLWithPath: Samples.path("onnx/manifest.json")))
        return try! JSONDecoder().decode(File.self, from: data).files
    }()

    /// Exports whose graph keeps the module's own weights (the folded-BatchNormalization ones change them).
    static let unfolded = ["vgg_small_torch_opset7.onnx", "vgg_small_torch_opset11.onnx", "vgg_small_torch_opset13.onnx",
                           "vgg_small_torch_opset17.onnx", "vgg_small_torch_view_opset11.onnx", "vgg_small_torch_view_opset17.onnx",
                           "vgg_small_external.onnx", "vgg_bn_torch_opset7.onnx", "vgg_bn_torch_opset13_bn_nodes.onnx",
                           "vgg_bn_torch_view_opset17.onnx", "vgg_dropout_torch_opset13.onnx", "vgg_notop_torch_opset13.onnx",
                           "vgg_small_tf2onnx_opset13.onnx", "vgg_dropout_tf2onnx_opset13.onnx"]

    /// Every tensor of the conversion equals, bit for bit, the one PyTorch's state_dict holds (samples/expected),
    /// whatever the exporter's dialect: Gemm or MatMul + Add, Flatten or the view() chain, NHWC graphs.
    func testExportsConvertToTheModulesOwnTensors() throws {
        XCTAssertGreaterThanOrEqual(Self.manifest.count, 20)
        for file in Self.unfolded {
            let entry = try XCTUnwrap(Self.manifest[file], file)
            let output = scratch.file("\(file).vggw")
            _ = try Converter.convert(input: Samples.path("onnx/\(file)"), output: output, options: ConversionOptions())
            let native = try NativeFile(path: output)
            let expected = try Samples.expectedTensors(entry.model)
            XCTAssertEqual(Set(native.header.tensors.map(\.name)), Set(expected.keys), file)
            for tensor in native.header.tensors {
                let want = try XCTUnwrap(expected[tensor.name], "\(file) \(tensor.name)")
                XCTAssertEqual(tensor.shape, want.shape, "\(file) \(tensor.name)")
                XCTAssertTrue(native.withBytes(of: tensor) { Array($0) == want.bytes }, "\(file): \(tensor.name) differs from PyTorch's")
            }
            // The canonical layers, but for Dropout, which exporters drop in inference mode.
            XCTAssertEqual(native.header.architecture.layers.filter { $0.type != .dropout }.map(\.name),
                           Samples.models[entry.model]?.layers.filter { !$0.hasPrefix("dropout") }, file)
        }
    }

    func testInitializersAreReadInPlace() throws {
        let path = Samples.path("onnx/vgg_small_torch_opset13.onnx")
        let size = try MappedFile(path: path).count
        let model = try OnnxReader.read(path: path)
        let tensors = model.layers.flatMap(\.parameters).map(\.tensor)
        XCTAssertEqual(tensors.count, 28)
        for tensor in tensors {
            let offset = try XCTUnwrap(tensor.fileOffset, tensor.sourceName)
            XCTAssertLessThanOrEqual(offset + tensor.data.count, size)
        }
        // External data: the ranges lie in the data file beside the graph, not in the graph.
        let external = try OnnxReader.read(path: Samples.path("onnx/vgg_small_external.onnx"))
        XCTAssertTrue(external.layers.flatMap(\.parameters).allSatisfy { $0.tensor.fileOffset == nil })
        XCTAssertEqual(external.layers.count, model.layers.count)
    }

    func testChannelsLastGraphsReadAsTheKerasModelsTheyCameFrom() throws {
        let model = try OnnxReader.read(path: Samples.path("onnx/vgg_small_tf2onnx_opset13.onnx"))
        XCTAssertEqual(model.format, OnnxReader.channelsLastFormat)
        XCTAssertEqual(SourceFramework(sourceFormat: model.format), .keras)
        XCTAssertEqual(model.dataFormat, .channelsLast)
        XCTAssertEqual(model.inputShape, [32, 32, 3])
        XCTAssertEqual(model.layers.filter { $0.type == .dense }.map(\.config.activation), ["relu", "relu", "softmax"])
        let torch = try OnnxReader.read(path: Samples.path("onnx/vgg_small_torch_opset13.onnx"))
        XCTAssertEqual(torch.format, OnnxReader.format)
        XCTAssertEqual(torch.inputShape, [3, 32, 32])
        // A global-average-pooling head: the pool and its Squeeze make one flat GlobalAveragePooling2D.
        let gap = try OnnxReader.read(path: Samples.path("onnx/tl_features_tf2onnx_opset13.onnx"))
        XCTAssertEqual(gap.layers.last?.type, .globalAveragePooling2d)
        XCTAssertEqual(gap.layers.last?.config.keepDims, false)
    }

    /// An op outside the family is refused naming the node, its op type and the opset.
    func testUnsupportedNodeIsNamed() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Samples.path("onnx/vgg_small_torch_opset13.onnx"))))
        // NodeProto.op_type is field 4: key 0x22, length 4, then the name.
        let relu = [0x22, 0x04] + Array("Relu".utf8)
        let at = try XCTUnwrap((0...(bytes.count - 6)).first { Array(bytes[$0..<($0 + 6)]) == relu })
        bytes.replaceSubrange((at + 2)..<(at + 6), with: Array("Selu".utf8))
        XCTAssertThrowsError(try OnnxReader.read(file: MappedFile(bytes: bytes, name: "selu.onnx"), folder: nil)) { error in
            guard case .unsupportedNode(_, let node, let op, let opset, let detail)? = error as? OnnxFormatError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(op, "Selu")
            XCTAssertEqual(opset, 13)
            XCTAssertTrue(node.contains("Relu"), node)  // torch.onnx names the node after the module's op
            XCTAssertTrue(detail.contains("not part of a VGG-style network"), detail)
        }
    }

    /// Every prefix of a real file is refused with a typed error, never a crash; a model in memory
    /// cannot reach external data.
    func testDamagedBytesAreRefusedWithTypedErrors() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Samples.path("onnx/vgg_bn_torch_opset7.onnx"))))
        for cut in stride(from: 1, to: bytes.count, by: 997) {
            XCTAssertThrowsError(try OnnxReader.read(file: MappedFile(bytes: Array(bytes[..<cut]), name: "cut.onnx"), folder: nil)) { error in
                XCTAssertTrue(error is OnnxFormatError, "cut at \(cut): \(error)")
            }
        }
        let external = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Samples.path("onnx/vgg_small_external.onnx"))))
        XCTAssertThrowsError(try OnnxReader.read(file: MappedFile(bytes: external, name: "external.onnx"), folder: nil)) { error in
            guard case .externalData(_, _, let location, .missing)? = error as? OnnxFormatError else { return XCTFail("\(error)") }
            XCTAssertEqual(location, "vgg_small_external.onnx.data")
        }
    }
}
