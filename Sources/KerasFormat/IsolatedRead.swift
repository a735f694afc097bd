import Foundation
import FileIO
import VGGCore

/// What a libhdf5 read returns, in a form that crosses from the isolated child (CrashIsolation) to the
/// parent: plain data, each tensor either a range of the file (the parent maps the same file) or bytes
/// the child decoded, sent after the JSON. The parent never runs libhdf5 on the file itself.
struct IsolatedRead {
    struct Tensor: Codable {
        var sourceName: String, dtype: DType, shape: [Int], layout: TensorLayout, fileOffset: Int?
        /// Offset in the mapped file, or nil when the bytes follow the JSON (in tensor order).
        var mapped: Int?
        var count: Int
    }

    struct Parameter: Codable {
        var role: ParameterRole, tensor: Tensor
    }

    struct Layer: Codable {
        var name: String, type: LayerType, config: LayerConfig, parameters: [Parameter]
        var scopes: [ModelScope], trainable: Bool
    }

    struct Model: Codable {
        var format: String, path: String, layers: [Layer], inputShape: [Int]?, dataFormat: DataFormat
        var architectureInferred: Bool, notes: [String], modelName: String?
        var optimizer: ModelSummary.OptimizerState?
    }

    /// The JSON and the owned bytes of `tensors`, in order.
    private struct Packer {
        var blobs: [UInt8] = []

        mutating func pack(_ tensor: SourceTensor) -> Tensor {
            let mapped = tensor.data.mappedOffset
            if mapped == nil { tensor.data.withUnsafeBytes { blobs.append(contentsOf: $0) } }
            return Tensor(sourceName: tensor.sourceName, dtype: tensor.dtype, shape: tensor.shape, layout: tensor.layout,
                          fileOffset: tensor.fileOffset, mapped: mapped, count: tensor.data.count)
        }
    }

    /// Rebuilds tensors in the parent, over its own mapping of the file.
    private struct Unpacker {
        let file: MappedFile
        let blobs: ArraySlice<UInt8>
        var position: Int

        mutating func unpack(_ tensor: Tensor, path: String) throws -> SourceTensor {
            let data: TensorData
            if let offset = tensor.mapped {
                guard file.contains(offset: offset, length: tensor.count) else {
                    throw KerasFormatError.notKeras(path: path, reason: "the file changed while it was being read")
                }
                data = TensorData(file: file, offset: offset, count: tensor.count)
            } else {
                guard tensor.count <= blobs.endIndex - position else {
                    throw KerasFormatError.notKeras(path: path, reason: "the isolated reader returned truncated data")
                }
                data = TensorData(bytes: Array(blobs[position..<(position + tensor.count)]))
                position += tensor.count
            }
            return SourceTensor(sourceName: tensor.sourceName, dtype: tensor.dtype, shape: tensor.shape, layout: tensor.layout,
                                data: data, fileOffset: tensor.fileOffset)
        }
    }

    /// [u64 JSON length][JSON][owned tensor bytes].
    private static func frame<T: Encodable>(_ value: T, blobs: [UInt8]) throws -> [UInt8] {
        let json = try JSONEncoder().encode(value)
        var out: [UInt8] = []
        out.reserveCapacity(8 + json.count + blobs.count)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        out.append(contentsOf: blobs)
        return out
    }

    private static func unframe<T: Decodable>(_ bytes: [UInt8], as type: T.Type, path: String) throws -> (T, ArraySlice<UInt8>) {
        guard bytes.count >= 8 else { throw KerasFormatError.notKeras(path: path, reason: "the isolated reader returned nothing") }
        let length = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard length <= bytes.count - 8 else { throw KerasFormatError.notKeras(path: path, reason: "the isolated reader returned truncated data") }
        let value = try JSONDecoder().decode(T.self, from: Data(bytes[8..<(8 + length)]))
        return (value, bytes[(8 + length)...])
    }

    static func encode(_ model: SourceModel) throws -> [UInt8] {
        var packer = Packer()
        let layers = model.layers.map { layer in
            Layer(name: layer.name, type: layer.type, config: layer.config,
                  parameters: layer.parameters.map { Parameter(role: $0.role, tensor: packer.pack($0.tensor)) },
                  scopes: layer.scopes, trainable: layer.trainable)
        }
        return try frame(Model(format: model.format, path: model.path, layers: layers, inputShape: model.inputShape, dataFormat: model.dataFormat,
                               architectureInferred: model.architectureInferred, notes: model.notes, modelName: model.modelName,
                               optimizer: model.optimizer),
                         blobs: packer.blobs)
    }

    static func decodeModel(_ bytes: [UInt8], file: MappedFile) throws -> SourceModel {
        let path = file.path
        let (transfer, blobs) = try unframe(bytes, as: Model.self, path: path)
        var unpacker = Unpacker(file: file, blobs: blobs, position: blobs.startIndex)
        let layers = try transfer.layers.map { layer in
            var source = SourceLayer(name: layer.name, type: layer.type, config: layer.config,
                                     parameters: try layer.parameters.map { SourceParameter(role: $0.role, tensor: try unpacker.unpack($0.tensor, path: path)) })
            source.scopes = layer.scopes
            source.trainable = layer.trainable
            return source
        }
        var model = SourceModel(format: transfer.format, path: transfer.path, layers: layers, inputShape: transfer.inputShape,
                                dataFormat: transfer.dataFormat, architectureInferred: transfer.architectureInferred, notes: transfer.notes)
        model.modelName = transfer.modelName
        model.optimizer = transfer.optimizer
        return model
    }

    static func encode(_ tensors: [SourceTensor]) throws -> [UInt8] {
        var packer = Packer()
        let packed = tensors.map { packer.pack($0) }
        return try frame(packed, blobs: packer.blobs)
    }

    static func decodeTensors(_ bytes: [UInt8], file: MappedFile) throws -> [SourceTensor] {
        let path = file.path
        let (packed, blobs) = try unframe(bytes, as: [Tensor].self, path: path)
        var unpacker = Unpacker(file: file, blobs: blobs, position: blobs.startIndex)
        return try packed.map { try unpacker.unpack($0, path: path) }
    }
}
