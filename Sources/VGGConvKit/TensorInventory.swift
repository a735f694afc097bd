import KerasFormat
import TorchFormat
import Imaging
import SafetensorsFormat
import OnnxFormat
import FileIO
import VGGCore

/// One row of `vggconv inspect`.
public struct TensorEntry: Codable, Sendable {
    /// Canonical name when the file's architecture is understood, else the name in the file.
    public var name: String
    public var sourceName: String
    public var dtype: DType
    public var shape: [Int]
    public var layout: TensorLayout
    /// Absolute byte offset in the file; nil when the data is not stored contiguously (compressed).
    public var offset: Int?
    public var nbytes: Int
    /// CRC-32 of the tensor's little-endian C-order bytes, 8 lowercase hex digits.
    public var crc32: String
}

/// What `inspect` reports about a file.
public struct TensorInventory: Codable, Sendable {
    public var file: String
    public var format: String
    public var tensors: [TensorEntry]
    /// Entries that are not tensors: a PyTorch checkpoint's (`epoch`, `arch`, …), an ONNX file's producer,
    /// opset and op census.
    public var nonTensors: [NonTensorEntry] = []

    /// A checkpoint entry that is not a tensor.
    public struct NonTensorEntry: Codable, Sendable {
        public var name: String
        public var value: String
    }

    init(file: String, format: String, tensors: [TensorEntry], nonTensors: [NonTensorEntry] = []) {
        self.file = file
        self.format = format
        self.tensors = tensors
        self.nonTensors = nonTensors
    }

    /// Lists the tensors of any readable file without converting it.
    /// - Throws: the reader's error for unreadable files.
    public static func of(path: String, reading: ReadOptions = ReadOptions()) throws -> TensorInventory {
        try FormatRegistry.format(of: path).inventory(path, FormatRequest(reading: reading, purpose: .summary))
    }

    /// The tensors a model read from `file` holds, named canonically where the model assembles.
    static func of(model: SourceModel, file: String) -> TensorInventory {
        let plan = try? ModelAssembler.plan(model)
        let canonical = Dictionary((plan?.tensors ?? []).map { ($0.sourceName, $0.name) }) { first, _ in first }
        let entries = model.layers.flatMap(\.parameters).map { parameter in
            entry(parameter.tensor, name: canonical[parameter.tensor.sourceName] ?? parameter.tensor.sourceName, layout: parameter.tensor.layout)
        }
        return TensorInventory(file: file, format: model.format, tensors: entries)
    }

    /// Every tensor with its key path as torch nests it; VGG-style files get canonical names too.
    static func torch(path: String) throws -> TensorInventory {
        let (format, tensors, others) = try TorchReader.inventory(path: path)
        return TensorInventory(file: path, format: format, tensors: entries(tensors, model: try? TorchReader.read(path: path), fallback: \.layout),
                               nonTensors: others.map { NonTensorEntry(name: $0.0, value: $0.1) })
    }

    /// Every initializer and constant with its offset, canonical names where the graph is a VGG, and the
    /// producer, opset and op census as non-tensor entries.
    static func onnx(path: String) throws -> TensorInventory {
        let (tensors, facts) = try OnnxReader.inventory(path: path)
        return TensorInventory(file: path, format: "onnx", tensors: entries(tensors, model: try? OnnxReader.read(path: path)),
                               nonTensors: facts.map { NonTensorEntry(name: $0.0, value: $0.1) })
    }

    /// Every tensor by its key; VGG-style files get canonical names too.
    static func safetensors(path: String) throws -> TensorInventory {
        TensorInventory(file: path, format: "safetensors",
                        tensors: entries(try SafetensorsModel.inventory(path: path), model: try? SafetensorsModel.read(path: path)))
    }

    /// `tensors` as the file lists them, each named canonically (in its canonical layout) where `model`
    /// assembles and uses it; the others keep their name and the `fallback` layout (default: scalar or
    /// unknown).
    static func entries(_ tensors: [SourceTensor], model: SourceModel?,
                        fallback: (SourceTensor) -> TensorLayout = { $0.shape.isEmpty ? .scalar : .unknown }) -> [TensorEntry] {
        let plan = model.flatMap { try? ModelAssembler.plan($0) }
        let canonical = Dictionary((plan?.tensors ?? []).map { ($0.sourceName, ($0.name, $0.layout)) }) { first, _ in first }
        return tensors.map { tensor in
            let (name, layout) = canonical[tensor.sourceName] ?? (tensor.sourceName, fallback(tensor))
            return entry(tensor, name: name, layout: layout)
        }
    }

    static func entry(_ tensor: SourceTensor, name: String, layout: TensorLayout) -> TensorEntry {
        TensorEntry(name: name, sourceName: tensor.sourceName, dtype: tensor.dtype, shape: tensor.shape, layout: layout,
                    offset: tensor.fileOffset, nbytes: tensor.data.count,
                    crc32: CRC32.hex(tensor.data.withUnsafeBytes { CRC32.of($0) }))
    }

    /// Every dataset, named canonically where the Keras architecture can be read.
    static func keras(path: String, configPath: String?) throws -> TensorInventory {
        guard try FileKind.detect(path: path) != .kerasShardIndex else {
            // Shards are several HDF5 files: list what the model reads from them.
            let model = try KerasModelFormat().readModel(path, FormatRequest(reading: ReadOptions(configPath: configPath), purpose: .summary))
            return of(model: model, file: path)
        }
        var canonical: [String: (String, TensorLayout)] = [:]
        var format = "hdf5"
        let config = try configPath.map { try KerasArchitecture.readJSON(path: $0) }
        if let model = try? KerasReader.read(path: path, configJSON: config, configOrigin: configPath ?? "") {
            format = model.format
            let plan = try? ModelAssembler.plan(model)
            for layer in model.layers {
                for parameter in layer.parameters {
                    let name = plan?.tensors.first { $0.sourceName == parameter.tensor.sourceName }?.name
                    canonical[parameter.tensor.sourceName] = (name ?? parameter.tensor.sourceName, parameter.tensor.layout)
                }
            }
        }
        let tensors = try HDF5Inventory.datasets(path: path).map { tensor in
            let (name, layout) = canonical[tensor.sourceName] ?? (tensor.sourceName, tensor.shape.isEmpty ? .scalar : .unknown)
            return entry(tensor, name: name, layout: layout)
        }
        return TensorInventory(file: path, format: format, tensors: tensors)
    }
}

/// What a `.vggw` came from, and so which preprocessing its images get by default.
enum NativeOrigin {
    /// `vggw from keras2-model-h5; photos preprocessed the keras way`.
    static func describe(_ native: NativeFile) -> String {
        let source = native.header.provenance.sourceFormat
        return "vggw from \(source); photos preprocessed the \(Preprocessing.matching(sourceFormat: source).rawValue) way"
    }
}
