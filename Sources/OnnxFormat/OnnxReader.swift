import Foundation
import FileIO
import VGGCore

/// Reads ONNX models in place: the protobuf is parsed over the mapped file and initializers' data
/// become ranges of it (or of external data files in the model's folder), never copies. The graph is
/// recognised as a VGG by `OnnxArchitecture`.
public enum OnnxReader {
    /// The source-format tag of a graph whose input is channels-last (tf2onnx from Keras): a Keras model
    /// in ONNX, so it gets Keras's defaults (NHWC input, 'caffe' preprocessing).
    public static let channelsLastFormat = SourceFramework.channelsLastOnnxFormat
    /// The tag of every other ONNX graph (torch.onnx, the model zoo).
    public static let format = "onnx"

    /// True for a file that starts as a serialized `ModelProto` does: `ir_version` (field 1) first, a
    /// small version, then a field of the model. ONNX has no magic number; `.onnx` files are also
    /// recognised by name.
    public static func looksLikeModel(prefix: [UInt8]) -> Bool {
        guard prefix.count >= 3, prefix[0] == 0x08, (1...20).contains(prefix[1]) else { return false }
        // producer_name (2), producer_version (3), domain (4), model_version (5), doc (6), graph (7), opset_import (8)
        return [0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42].contains(prefix[2])
    }

    /// Reads the model at `path`; external data is looked up beside it.
    /// - Throws: `OnnxFormatError` naming the node or tensor, `VGGError` for I/O.
    public static func read(path: String) throws -> SourceModel {
        try read(file: try MappedFile(path: path, role: .model), folder: folder(of: path))
    }

    /// `read(path:)` of a file already mapped or of bytes in memory; `folder` holds its external data
    /// (nil: a model with external data is refused).
    public static func read(file: MappedFile, folder: String?) throws -> SourceModel {
        let (proto, tensors) = try parse(file, folder: folder)
        let walk = try OnnxArchitecture(graph: proto.graph, tensors: tensors, path: file.path, opset: proto.opset)
        let channelsLast = walk.flattenFromChannelsLast || (walk.channelsLastInput && !walk.layers.contains { $0.type == .flatten })
        var dims = walk.inputDims
        if channelsLast, dims.count == 3 { dims = [dims[1], dims[2], dims[0]] }
        let inputShape = dims.count == 3 ? dims.compactMap { $0 } : []
        var model = SourceModel(format: walk.channelsLastInput ? channelsLastFormat : format, path: file.path, layers: walk.layers,
                                inputShape: inputShape.count == 3 ? inputShape : nil,
                                dataFormat: channelsLast ? .channelsLast : .channelsFirst, architectureInferred: false,
                                notes: [Self.producerNote(proto)] + walk.notes)
        // Exporters' default graph names say nothing of the model: the file's name does better.
        let defaults: Set<String> = ["", "main_graph", "torch_jit", "torch-jit-export", "tf2onnx"]
        model.modelName = defaults.contains(proto.graph.name) ? nil : String(SafeText.oneLine(proto.graph.name).prefix(64))
        return model
    }

    /// Every initializer (and `Constant` node value) with its place in the file, and the facts `inspect`
    /// shows: producer, opsets, IR version and the count of each op.
    public static func inventory(path: String) throws -> (tensors: [SourceTensor], facts: [(String, String)]) {
        try inventory(file: try MappedFile(path: path, role: .model), folder: folder(of: path))
    }

    /// `inventory(path:)` of a file already mapped or of bytes in memory.
    public static func inventory(file: MappedFile, folder: String?) throws -> (tensors: [SourceTensor], facts: [(String, String)]) {
        let (proto, tensors) = try parse(file, folder: folder)
        var listed = try proto.graph.initializers.map { try tensors.tensor($0, layout: .unknown) }
        for node in proto.graph.nodes where node.opType == "Constant" {
            if case .tensor(let value)? = node.attributes["value"], var tensor = try? tensors.tensor(value, layout: .unknown) {
                tensor.sourceName = node.outputs.first ?? tensor.sourceName
                listed.append(tensor)
            }
        }
        var census: [String: Int] = [:]
        for node in proto.graph.nodes { census[node.opType, default: 0] += 1 }
        let ops = census.sorted { $0.key < $1.key }.map { "\(SafeText.quote($0.key)) \($0.value)" }.joined(separator: ", ")
        return (listed, [("producer", SafeText.quote("\(proto.producer) \(proto.producerVersion)".trimmingCharacters(in: .whitespaces))),
                         ("ir_version", "\(proto.irVersion)"), ("opset", "\(proto.opset)"), ("ops", ops)])
    }

    /// The folder external data of the model at `path` may come from: the model's own.
    private static func folder(of path: String) -> String {
        let folder = (path as NSString).deletingLastPathComponent
        return folder.isEmpty ? "." : folder
    }

    private static func parse(_ file: MappedFile, folder: String?) throws -> (OnnxModelProto, OnnxTensors) {
        let proto = try file.withBytes(offset: 0, length: file.count) { buffer in
            try OnnxModelProto(ProtobufReader(buffer: buffer, range: 0..<buffer.count, path: file.path))
        }
        guard proto.graph.sparseInitializers == 0 else {
            throw OnnxFormatError.notOnnx(path: file.path, reason: "it has sparse initializers, which no VGG export writes")
        }
        return (proto, OnnxTensors(file: file, folder: folder))
    }

    private static func producerNote(_ proto: OnnxModelProto) -> String {
        let producer = "\(proto.producer) \(proto.producerVersion)".trimmingCharacters(in: .whitespaces)
        return "ONNX graph from \(producer.isEmpty ? "an unnamed producer" : SafeText.quote(producer)), IR version \(proto.irVersion), opset \(proto.opset)"
    }
}
