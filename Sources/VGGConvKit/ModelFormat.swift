import Foundation
import SafetensorsFormat
import FileIO
import VGGCore

/// What a format is asked to read, besides the path.
public struct FormatRequest: Sendable {
    /// Why the model is read: to convert or run it (tensors are used), or to summarise it (only the
    /// architecture and shapes are; checksums need not be read).
    public enum Purpose: Sendable, Equatable {
        /// `checksPending`: the caller checks record checksums as it streams the tensors.
        case convert(checksPending: Bool)
        case summary
    }

    public var reading: ReadOptions
    /// `--arch`: a VGG the file must hold, or supplies (a Keras 3 `.weights.h5` without its config).
    public var architecture: String?
    public var purpose: Purpose

    public init(reading: ReadOptions = ReadOptions(), architecture: String? = nil, purpose: Purpose = .convert(checksPending: false)) {
        self.reading = reading
        self.architecture = architecture
        self.purpose = purpose
    }
}

/// What a format can record; `convert` uses it to say what an export will lose.
public struct FormatCapabilities: Sendable {
    /// The file records its layers (not only tensors).
    public var recordsArchitecture: Bool
    /// Nested models survive a round trip through it.
    public var recordsNesting: Bool
    /// Tensor dtypes it stores.
    public var dtypes: Set<DType>
    /// What the file calls a layer ("PyTorch module", "ONNX node"): a summary shows canonical names with
    /// these beside them. Nil when the file's names are Keras layer names, which the rows show as they are.
    public var sourceNameTitle: String?

    public init(recordsArchitecture: Bool, recordsNesting: Bool, dtypes: Set<DType>, sourceNameTitle: String? = "PyTorch module") {
        self.recordsArchitecture = recordsArchitecture
        self.recordsNesting = recordsNesting
        self.dtypes = dtypes
        self.sourceNameTitle = sourceNameTitle
    }
}

/// The first bytes of a file, its size and name: what a format recognises a file by.
public struct FileProbe: Sendable {
    public let path: String
    /// Up to the first 4,096 bytes (all of them for a smaller file); empty for a folder.
    public let prefix: [UInt8]
    public let size: Int
    public let isFolder: Bool
    /// What vggconv's built-in detection made of it (`.unknown` for a format it does not know).
    public let kind: FileKind

    /// Probes `path`.
    /// - Throws: `VGGError.fileNotFound`, `.notAFile` or `.io`.
    public init(path: String) throws {
        self.path = path
        guard KerasFolder(path: path) == nil else {
            (kind, prefix, size, isFolder) = (.kerasFolder, [], 0, true)
            return
        }
        // One mapping serves the built-in detection and the prefix other formats look at.
        let file = try MappedFile(path: path, role: .model)
        kind = try FileKind.detect(file: file)
        (prefix, size, isFolder) = (file.bytes(offset: 0, length: min(file.count, 4096)), file.count, false)
    }
}

/// One file format: how to recognise it, read it into the model, list its tensors and write a model
/// into it. Formats are peers; `FormatRegistry` lists them and everything that opens or writes a model
/// file asks the registry, so adding a format is one conforming type and one registry line (or a
/// `FormatRegistry.register` call).
public protocol ModelFormat: Sendable {
    /// A name for messages: "Keras HDF5", "PyTorch", "safetensors", …
    var name: String { get }
    /// Whether `probe` is a file of this format.
    func recognizes(_ probe: FileProbe) -> Bool
    /// The model the file holds.
    /// - Throws: the reader's error, naming what is wrong and where.
    func readModel(_ path: String, _ request: FormatRequest) throws -> SourceModel
    /// Every tensor the file holds, named canonically where the architecture can be read.
    func inventory(_ path: String, _ request: FormatRequest) throws -> TensorInventory
    /// Output extensions this format writes (`.pth`, …), longest first; empty for a read-only format.
    var writtenExtensions: [String] { get }
    /// Writes `plan` (already assembled from `model`) to `path`.
    func write(_ model: SourceModel, plan: ConversionPlan, to path: String, options: ConversionOptions,
               progress: WriteProgress?) throws -> Converter.ExportResult
    /// What the format records.
    var capabilities: FormatCapabilities { get }
}

extension ModelFormat {
    public var writtenExtensions: [String] { [] }

    public func write(_ model: SourceModel, plan: ConversionPlan, to path: String, options: ConversionOptions,
                      progress: WriteProgress?) throws -> Converter.ExportResult {
        throw RequestError.notWritable(path: path, format: name)
    }

    public func inventory(_ path: String, _ request: FormatRequest) throws -> TensorInventory {
        TensorInventory.of(model: try readModel(path, request), file: path)
    }
}

/// The formats vggconv knows, in the order they are tried. `register` adds one at run time (a plug-in,
/// or a test's toy format); it is tried before the built-in ones.
public enum FormatRegistry {
    nonisolated(unsafe) private static var added: [any ModelFormat] = []
    private static let lock = NSLock()

    /// The built-in formats: one line each.
    static let builtIn: [any ModelFormat] = [
        NativeModelFormat(), KerasModelFormat(), KerasFolderFormat(), KerasConfigFormat(), TorchKeyedFormat(container: .pytorch),
        TorchKeyedFormat(container: .safetensors), OnnxModelFormat(),
    ]

    /// Every format, registered ones first.
    public static var formats: [any ModelFormat] {
        lock.lock()
        defer { lock.unlock() }
        return added + builtIn
    }

    /// Adds `format`, tried before the built-in ones.
    public static func register(_ format: any ModelFormat) {
        lock.lock()
        defer { lock.unlock() }
        added.append(format)
    }

    /// The format of the file at `path`.
    /// - Throws: `RequestError.wrongKind` when no format recognises it, and the probe's errors.
    public static func format(of path: String) throws -> any ModelFormat {
        let probe = try FileProbe(path: path)
        guard let format = formats.first(where: { $0.recognizes(probe) }) else {
            throw RequestError.wrongKind(path: path, expected: InputRole.model.phrase, found: probe.kind.phrase)
        }
        return format
    }

    /// The format that writes `path`, chosen by its extension.
    /// - Throws: `RequestError.unknownOutputExtension` naming the extensions vggconv writes.
    public static func writer(for path: String) throws -> any ModelFormat {
        let lower = path.lowercased()
        let candidates = formats.flatMap { format in format.writtenExtensions.map { (suffix: $0, format: format) } }
            .sorted { $0.suffix.count > $1.suffix.count }
        guard let match = candidates.first(where: { lower.hasSuffix($0.suffix) }) else {
            throw RequestError.unknownOutputExtension(path: path, known: candidates.map(\.suffix).sorted())
        }
        return match.format
    }
}
