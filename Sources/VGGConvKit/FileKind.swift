import KerasFormat
import OnnxFormat
import Foundation
import SafetensorsFormat
import FileIO
import VGGCore

/// What a file is, from its first bytes (never from its extension).
public enum FileKind: Equatable, Sendable {
    case native
    case hdf5
    case kerasArchive
    case torchZip
    case torchLegacy
    case json
    /// A Keras 3 sharded-weights index (`NAME.weights.json` beside its `.weights.h5` shards).
    case kerasShardIndex
    /// A folder Keras 3's `model.save(path, zipped=False)` wrote (`config.json`, `model.weights.h5`).
    case kerasFolder
    case safetensors
    /// A serialized ONNX `ModelProto` (told from its first fields: ONNX has no magic number).
    case onnx
    case unknown

    /// Every kind the Keras reader takes.
    public static let keras: Set<FileKind> = [.hdf5, .kerasArchive, .kerasShardIndex, .kerasFolder]

    /// Sniffs `path`.
    /// - Throws: `VGGError.fileNotFound` / `.notAFile` / `.io`, or `.badZip` for a broken zip.
    public static func detect(path: String) throws -> FileKind {
        if KerasFolder(path: path) != nil { return .kerasFolder }
        return try detect(file: try MappedFile(path: path, role: .model))
    }

    /// Sniffs a file already mapped (or bytes in memory) from its first bytes.
    public static func detect(file: MappedFile) throws -> FileKind {
        let prefix = file.bytes(offset: 0, length: 16)
        if NativeFile.hasMagic(prefix) { return .native }
        if prefix.starts(with: [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]) { return .hdf5 }
        if ZipArchive.hasMagic(prefix) {
            let archive = try ZipArchive(file: file)
            if archive.entry(named: "model.weights.h5") != nil { return .kerasArchive }
            if archive.entries.contains(where: { $0.name.hasSuffix("data.pkl") }) { return .torchZip }
            return .unknown
        }
        if SafetensorsFile.hasMagic(file.bytes(offset: 0, length: 9), fileSize: file.count) { return .safetensors }
        if prefix.starts(with: [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]) {
            return .torchLegacy
        }
        if file.count > 262, file.bytes(offset: 257, length: 5) == Array("ustar".utf8) { return .torchLegacy }
        if let first = prefix.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }), first == UInt8(ascii: "{") {
            return file.count <= KerasArchitecture.maximumJSONBytes && ShardIndex.isIndex(file.contents()) ? .kerasShardIndex : .json
        }
        if OnnxReader.looksLikeModel(prefix: prefix) { return .onnx }
        return .unknown
    }
}

/// A folder with what Keras 3's `model.save(path, zipped=False)` writes: the same `config.json` and
/// `model.weights.h5` a `.keras` archive holds, as plain files.
public struct KerasFolder: Sendable {
    public let weights: String
    public let config: String

    /// Nil unless `path` is a folder holding both files.
    public init?(path: String) {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else { return nil }
        let folder = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        (weights, config) = (folder + "/model.weights.h5", folder + "/config.json")
        guard FileManager.default.fileExists(atPath: weights), FileManager.default.fileExists(atPath: config) else { return nil }
    }

    /// The model in the folder; `configPath` overrides its `config.json`.
    func read(configPath: String?) throws -> SourceModel {
        let origin = configPath ?? config
        return try KerasReader.read(path: weights, configJSON: try KerasArchitecture.readJSON(path: origin), configOrigin: origin,
                                    savedModel: true)
    }
}

extension FileKind {
    /// A phrase for messages ("a PyTorch file").
    public var phrase: String {
        switch self {
        case .native: return "a vggconv native (.vggw) file"
        case .hdf5: return "an HDF5 file"
        case .kerasArchive: return "a Keras 3 .keras archive"
        case .torchZip, .torchLegacy: return "a PyTorch file"
        case .json: return "a JSON file"
        case .kerasShardIndex: return "a Keras 3 sharded-weights index"
        case .kerasFolder: return "a Keras 3 model folder (saved with zipped=False)"
        case .safetensors: return "a safetensors file"
        case .onnx: return "an ONNX model"
        case .unknown: return "not a format vggconv reads (not HDF5, zip, PyTorch, safetensors, ONNX or .vggw)"
        }
    }
}
