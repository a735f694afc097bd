#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KerasFormat
import TorchFormat
import FileIO
import VGGCore

/// Options shared by the `*2native` conversions.
public struct ConversionOptions: Sendable {
    public var output: String?
    public var dtype: DType?
    public var overwrite: Bool
    public var configPath: String?
    /// ONNX only: a graph that takes (N, H, W, C) inputs, as Keras models do.
    public var channelsLastInput = false
    /// Keras `.h5` only: write the `save_weights` layout instead of the full model.
    public var kerasWeightsOnly = false
    /// PyTorch and safetensors inputs: the global pooling (`.globalAveragePooling2d` or
    /// `.globalMaxPooling2d`) of a head whose Linear takes the channel count; nil assumes average.
    public var globalPool: LayerType?

    public init(output: String? = nil, dtype: DType? = nil, overwrite: Bool = false, configPath: String? = nil) {
        self.output = output
        self.dtype = dtype
        self.overwrite = overwrite
        self.configPath = configPath
    }
}

/// How to read a model file beyond its path, for the commands that open any format.
public struct ReadOptions: Sendable {
    /// The Keras architecture JSON of a weights-only Keras file.
    public var configPath: String?
    /// The global pooling of a PyTorch head that takes the channel count (nil: average, noted).
    public var globalPool: LayerType?

    public init(configPath: String? = nil, globalPool: LayerType? = nil) {
        self.configPath = configPath
        self.globalPool = globalPool
    }
}

/// The outcome of a conversion, for the command to report.
public struct ConversionResult: Sendable {
    public var outputPath: String
    public var header: NativeHeader
    /// Choices the reader made that the source does not record (their notes are in the header's provenance).
    public var assumptions: [Assumption] = []
}

/// Conversions of framework files into the native format.
public enum Converter {
    /// A model file extension: the format `convert` writes for it, and the framework whose files carry it.
    /// The one list of extensions (longest first where one ends another: `.weights.h5` before `.h5`).
    public struct ModelExtension: Sendable {
        public let suffix: String
        public let output: OutputFormat?
        public let framework: SourceFramework?
    }

    public static let modelExtensions: [ModelExtension] = [
        ModelExtension(suffix: ".weights.h5", output: .keras3Weights, framework: .keras),
        ModelExtension(suffix: ".h5", output: .kerasH5, framework: .keras),
        ModelExtension(suffix: ".hdf5", output: .kerasH5, framework: .keras),
        ModelExtension(suffix: ".keras", output: .kerasArchive, framework: .keras),
        ModelExtension(suffix: ".pth", output: .pytorch, framework: .pytorch),
        ModelExtension(suffix: ".pt", output: .pytorch, framework: .pytorch),
        ModelExtension(suffix: ".bin", output: nil, framework: .pytorch),
        ModelExtension(suffix: ".safetensors", output: .safetensors, framework: nil),
        ModelExtension(suffix: ".onnx", output: .onnx, framework: nil),
        ModelExtension(suffix: ".vggw", output: .native, framework: nil),
    ]

    /// `name` without the first extension of `modelExtensions` it ends in that `where` accepts.
    static func stripping(_ name: String, where accepted: (ModelExtension) -> Bool) -> String {
        guard let match = modelExtensions.first(where: { accepted($0) && name.lowercased().hasSuffix($0.suffix) }) else { return name }
        return String(name.dropLast(match.suffix.count))
    }

    /// The default output name: the input's name with its Keras or PyTorch extension replaced by `.vggw`.
    public static func defaultOutput(for input: String) -> String {
        let slash = input.lastIndex(of: "/").map { input.index(after: $0) } ?? input.startIndex
        return String(input[..<slash]) + stripping(String(input[slash...]), where: { $0.framework != nil }) + ".vggw"
    }

    /// Converts any Keras flavour to a `.vggw` file.
    /// - Throws: the reader's or writer's error; nothing is left at the output path on failure.
    /// `architecture` (`vgg16`, …) supplies the layers of a Keras 3 `.weights.h5` saved without a config.
    public static func kerasToNative(input: String, options: ConversionOptions, architecture: String? = nil,
                                     progress: WriteProgress? = nil) throws -> ConversionResult {
        let output = try prepare(input, options: options, accepted: FileKind.keras,
                                 expected: "a Keras .h5, .weights.h5 or .keras file",
                                 otherReader: ([.torchZip, .torchLegacy], "a PyTorch file (use torch2native)"))
        let model = try readModel(input, options: options, architecture: architecture)
        return try write(model, to: output, options: options, progress: progress)
    }

    /// Converts a PyTorch state_dict or checkpoint (zip or legacy `.pth`) to a `.vggw` file.
    /// `architecture` (`vgg16`, …) asserts what the file must hold.
    /// - Throws: the reader's or writer's error; nothing is left at the output path on failure.
    public static func torchToNative(input: String, options: ConversionOptions, architecture: String? = nil,
                                     progress: WriteProgress? = nil) throws -> ConversionResult {
        let output = try prepare(input, options: options, accepted: [.torchZip, .torchLegacy],
                                 expected: "a PyTorch .pth/.pt file",
                                 otherReader: (FileKind.keras, "a Keras file (use keras2native)"))
        let model = try TorchReader.read(path: input, expectedArchitecture: architecture, recordChecks: .deferredToReader,
                                         globalPool: options.globalPool)
        return try write(model, to: output, options: options, progress: progress)
    }

    /// The formats `convert` writes, chosen by the output's extension.
    public enum OutputFormat: String, CaseIterable, Sendable {
        case native = "vggw", pytorch = "pth", safetensors, onnx
        case kerasH5 = "h5", keras3Weights = "weights.h5", kerasArchive = "keras"

        /// The format `path`'s extension names.
        /// - Throws: `RequestError.unknownOutputExtension` naming the extensions vggconv writes.
        public static func of(_ path: String) throws -> OutputFormat {
            let lower = path.lowercased()
            let written = Converter.modelExtensions.filter { $0.output != nil }
            guard let match = written.first(where: { lower.hasSuffix($0.suffix) }), let format = match.output else {
                throw RequestError.unknownOutputExtension(path: path, known: written.map(\.suffix))
            }
            return format
        }
    }

    /// What `convert` wrote: the output, its format, what PyTorch needs to know.
    public struct ExportResult: Sendable {
        public var outputPath: String
        public var format: OutputFormat
        public var tensorCount: Int
        public var bytes: Int
        /// `vgg16_bn(num_classes=1000)`, … when torchvision builds a module the `.pth` loads into.
        public var torchvisionName: String?
        /// The Python module file written beside a `.pth` whose keys torchvision cannot load, and its text.
        public var modulePath: String?
        public var moduleSource: String?
        public var notes: [String]
        /// Choices the reader made that the source does not record.
        public var assumptions: [Assumption] = []
        /// Which Keras file was written, for Keras outputs.
        public var kerasFlavour: KerasWriter.Flavour? = nil

        /// The Keras call that loads a Keras output.
        public var kerasLoadHint: String? {
            switch kerasFlavour {
            case .modelH5: return "keras.models.load_model(PATH) (tf-keras or Keras 3), or model.load_weights(PATH)"
            case .weightsH5: return "model.load_weights(PATH), or keras.applications.VGG16(weights=PATH, classifier_activation=None) for a VGG16"
            case .keras3Weights: return "model.load_weights(PATH) on the same architecture (Keras 3)"
            case .kerasArchive: return "keras.saving.load_model(PATH) (Keras 3)"
            case nil: return nil
            }
        }
    }

    /// Converts any readable file (every Keras flavour, PyTorch files, `.vggw`) to the format `output`'s
    /// extension names. `architecture` asserts a torchvision model for PyTorch inputs.
    /// - Throws: the reader's or writer's error; nothing is left at the output paths on failure.
    public static func convert(input: String, output: String, options: ConversionOptions, architecture: String? = nil,
                               progress: WriteProgress? = nil) throws -> ExportResult {
        // A `.pth` and the module file beside it are placed together: both, or neither.
        try OutputCommit.together { try export(input: input, output: output, options: options, architecture: architecture, progress: progress) }
    }

    private static func export(input: String, output: String, options: ConversionOptions, architecture: String?,
                               progress: WriteProgress?) throws -> ExportResult {
        let writer = try FormatRegistry.writer(for: output)
        try checkOutput(output, inputs: [input] + (options.configPath.map { [$0] } ?? []), overwrite: options.overwrite)
        let model = try readModel(input, options: options, architecture: architecture, checksPending: true)
        let plan = try ModelAssembler.plan(model, targetDType: options.dtype)
        var result = try writer.write(model, plan: plan, to: output, options: options, progress: progress)
        result.assumptions = plan.assumptions
        return result
    }

    /// A Keras model name from an output path when the source records none: `out/vgg_bn.keras` → `vgg_bn`.
    static func modelName(from output: String) -> String? {
        let name = stripping(String(output.split(separator: "/").last ?? ""), where: { $0.framework == .keras })
        let cleaned = String(name.unicodeScalars.map { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) ? Character($0) : "_" })
        return cleaned.isEmpty ? nil : String(cleaned.prefix(64))
    }

    /// Reads any model file vggconv understands into a `SourceModel`. `checksPending`: the caller checks
    /// the checksums a reader may leave pending (`TensorData.pendingChecksum`) as it reads the tensors
    /// (`TensorStreamer` does), so records are not read once ahead just for their CRC-32.
    static func readModel(_ input: String, options: ConversionOptions, architecture: String?, checksPending: Bool = false) throws -> SourceModel {
        let request = FormatRequest(reading: ReadOptions(configPath: options.configPath, globalPool: options.globalPool),
                                    architecture: architecture, purpose: .convert(checksPending: checksPending))
        return try FormatRegistry.format(of: input).readModel(input, request)
    }

    /// Checks the input's kind and the output path before any work; returns the output path.
    private static func prepare(_ input: String, options: ConversionOptions, accepted: Set<FileKind>, expected: String,
                                otherReader: (kinds: Set<FileKind>, phrase: String)) throws -> String {
        let kind = try FileKind.detect(path: input)
        guard accepted.contains(kind) else {
            throw RequestError.wrongKind(path: input, expected: expected,
                                         found: otherReader.kinds.contains(kind) ? otherReader.phrase : kind.phrase)
        }
        let output = options.output ?? defaultOutput(for: input)
        try checkOutput(output, inputs: [input] + (options.configPath.map { [$0] } ?? []), overwrite: options.overwrite)
        return output
    }

    private static func write(_ model: SourceModel, to output: String, options: ConversionOptions,
                              progress: WriteProgress?) throws -> ConversionResult {
        let plan = try ModelAssembler.plan(model, targetDType: options.dtype)
        let header = try NativeWriter.write(plan, to: output, overwrite: options.overwrite,
                                            sourceBytes: try MappedFile(path: model.path).count, progress: progress)
        return ConversionResult(outputPath: output, header: header, assumptions: plan.assumptions)
    }

    /// Refuses to clobber an existing output (without `--force`) or any of the command's inputs (the same
    /// file by device and inode, so symlinks and hard links count), before any work.
    public static func checkOutput(_ output: String, inputs: [String], overwrite: Bool) throws {
        guard let target = identity(of: output) else { return }
        if inputs.contains(where: { identity(of: $0).map { $0 == target } ?? false }) {
            throw VGGError.sameInputAndOutput(path: output)
        }
        try OutputFile.checkDestination(output, overwrite: overwrite)
    }

    /// `checkOutput` for every output of a command, which must also differ from each other (by name, and
    /// by device and inode where they exist).
    public static func checkOutputs(_ outputs: [String], inputs: [String], overwrite: Bool) throws {
        for (index, output) in outputs.enumerated() {
            let earlier = outputs[..<index]
            if earlier.contains(output) || identity(of: output).map({ target in earlier.contains { identity(of: $0) == target } }) == true {
                throw VGGError.sameInputAndOutput(path: output)
            }
            try checkOutput(output, inputs: inputs, overwrite: overwrite)
        }
    }

    /// The (device, inode) of the file `path` names after following links; nil when it does not exist.
    private static func identity(of path: String) -> [UInt64]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [UInt64(info.st_dev), UInt64(info.st_ino)]
    }
}

/// Opens any model file as a checked native model: a `.vggw` in place; anything else converted first to
/// a private temporary `.vggw` (in `$TMPDIR`), which is unlinked as soon as it is mapped, so `run`,
/// `verify` and `bench` take every format `convert` reads.
public enum ModelOpener {
    /// - Throws: the reader's or the converter's error.
    public static func native(_ path: String, reading: ReadOptions = ReadOptions()) throws -> NativeFile {
        if try FileKind.detect(path: path) == .native { return try NativeFile(path: path) }
        let directory = ProcessInfo.processInfo.environment["TMPDIR"].map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "/tmp"
        let temporary = "\(directory)/vggconv-\(getpid())-\(UInt32.random(in: .min ... .max)).vggw"
        // Registered before it exists: a signal between its rename and its unlink removes it too.
        let cleanup = InterruptCleanup.register(temporary)
        defer {
            unlink(temporary)
            InterruptCleanup.unregister(cleanup)
        }
        var options = ConversionOptions(configPath: reading.configPath)
        options.globalPool = reading.globalPool
        _ = try OutputCommit.alone { try Converter.convert(input: path, output: temporary, options: options) }
        return try NativeFile(path: temporary)
    }
}
