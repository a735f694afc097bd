import Foundation
import KerasFormat
import TorchFormat
import SafetensorsFormat
import OnnxFormat
import FileIO
import VGGCore

// The built-in formats, each an adapter from `ModelFormat` onto its module's reader and writer.
// `FormatRegistry.builtIn` lists them.

/// The native `.vggw`.
struct NativeModelFormat: ModelFormat {
    var name: String { "vggconv native (.vggw)" }
    func recognizes(_ probe: FileProbe) -> Bool { probe.kind == .native }
    func readModel(_ path: String, _ request: FormatRequest) throws -> SourceModel { try NativeFile(path: path).sourceModel() }
    func inventory(_ path: String, _ request: FormatRequest) throws -> TensorInventory {
        let native = try NativeFile(path: path)
        return TensorInventory(file: path, format: NativeOrigin.describe(native), tensors: native.header.tensors.map {
            TensorEntry(name: $0.name, sourceName: $0.sourceName, dtype: $0.dtype, shape: $0.shape, layout: $0.layout,
                                        offset: $0.offset, nbytes: $0.nbytes, crc32: $0.crc32)
        })
    }
    var writtenExtensions: [String] { [".vggw"] }
    func write(_ model: SourceModel, plan: ConversionPlan, to path: String, options: ConversionOptions,
               progress: WriteProgress?) throws -> Converter.ExportResult {
        let header = try NativeWriter.write(plan, to: path, overwrite: options.overwrite,
                                            sourceBytes: try MappedFile(path: model.path).count, progress: progress)
        return Converter.ExportResult(outputPath: path, format: .native, tensorCount: header.tensors.count,
                                      bytes: header.tensors.reduce(0) { $0 + $1.nbytes }, torchvisionName: nil, modulePath: nil,
                                      moduleSource: nil, notes: [])
    }
    var capabilities: FormatCapabilities {
        FormatCapabilities(recordsArchitecture: true, recordsNesting: true, dtypes: ModelCheck.weightDTypes)
    }
}

extension FormatCapabilities {
    /// Every Keras weights file: its layers, their nesting and Keras layer names; floating-point weights.
    static let keras = FormatCapabilities(recordsArchitecture: true, recordsNesting: true, dtypes: [.float16, .float32, .float64],
                                          sourceNameTitle: nil)
}

/// Keras HDF5 (`.h5`, `.weights.h5`), `.keras` archives and sharded Keras 3 weights.
struct KerasModelFormat: ModelFormat {
    var name: String { "Keras" }
    func recognizes(_ probe: FileProbe) -> Bool { [.hdf5, .kerasArchive, .kerasShardIndex].contains(probe.kind) }
    func readModel(_ path: String, _ request: FormatRequest) throws -> SourceModel {
        let config = try request.reading.configPath.map { try KerasArchitecture.readJSON(path: $0) }
        return try KerasReader.read(path: path, configJSON: config, configOrigin: request.reading.configPath ?? "",
                                    architecture: request.architecture)
    }
    func inventory(_ path: String, _ request: FormatRequest) throws -> TensorInventory {
        try TensorInventory.keras(path: path, configPath: request.reading.configPath)
    }
    var writtenExtensions: [String] { [".weights.h5", ".h5", ".hdf5", ".keras"] }
    func write(_ model: SourceModel, plan: ConversionPlan, to path: String, options: ConversionOptions,
               progress: WriteProgress?) throws -> Converter.ExportResult {
        let format = try Converter.OutputFormat.of(path)
        let flavour: KerasWriter.Flavour = format == .kerasArchive ? .kerasArchive : format == .keras3Weights ? .keras3Weights
            : options.kerasWeightsOnly ? .weightsH5 : .modelH5
        let written = try KerasWriter.write(plan, modelName: model.modelName ?? Converter.modelName(from: path), flavour: flavour, to: path,
                                            overwrite: options.overwrite, progress: progress)
        return Converter.ExportResult(outputPath: path, format: format, tensorCount: written.tensorCount, bytes: written.bytes,
                                      torchvisionName: nil, modulePath: nil, moduleSource: nil, notes: written.export.notes,
                                      kerasFlavour: flavour)
    }
    var capabilities: FormatCapabilities { .keras }
}

/// A folder Keras 3's `model.save(path, zipped=False)` wrote.
struct KerasFolderFormat: ModelFormat {
    var name: String { "Keras model folder" }
    func recognizes(_ probe: FileProbe) -> Bool { probe.kind == .kerasFolder }
    func readModel(_ path: String, _ request: FormatRequest) throws -> SourceModel {
        try folder(path).read(configPath: request.reading.configPath)
    }
    func inventory(_ path: String, _ request: FormatRequest) throws -> TensorInventory {
        try TensorInventory.keras(path: try folder(path).weights, configPath: nil)
    }
    private func folder(_ path: String) throws -> KerasFolder {
        guard let folder = KerasFolder(path: path) else { throw VGGError.fileNotFound(path: path, expected: InputRole.model.phrase) }
        return folder
    }
    var capabilities: FormatCapabilities { .keras }
}

/// A Keras architecture JSON (`model.to_json()`): layers without weights, which `summary` reads.
struct KerasConfigFormat: ModelFormat {
    var name: String { "Keras architecture JSON" }
    func recognizes(_ probe: FileProbe) -> Bool { probe.kind == .json }
    func readModel(_ path: String, _ request: FormatRequest) throws -> SourceModel {
        guard request.purpose == .summary else {
            throw RequestError.wrongKind(path: path, expected: InputRole.model.phrase, found: FileKind.json.phrase)
        }
        return try KerasReader.architecture(json: try KerasArchitecture.readJSON(path: path), origin: path)
    }
    func inventory(_ path: String, _ request: FormatRequest) throws -> TensorInventory {
        throw RequestError.holdsNoTensors(path: path, kind: "a Keras architecture JSON")
    }
    var capabilities: FormatCapabilities { FormatCapabilities(recordsArchitecture: true, recordsNesting: true, dtypes: [], sourceNameTitle: nil) }
}

/// The PyTorch-keyed containers: `torch.save` files (zip and legacy, state_dicts and checkpoints) and
/// safetensors (PyTorch keys, timm's, and vggconv's own with its architecture in the metadata). They
/// share the key reader and the export (`TorchKeyedExport`); the container is the only difference.
struct TorchKeyedFormat: ModelFormat {
    enum Container { case pytorch, safetensors }
    let container: Container

    var name: String { container == .pytorch ? "PyTorch" : "safetensors" }
    func recognizes(_ probe: FileProbe) -> Bool {
        container == .pytorch ? [.torchZip, .torchLegacy].contains(probe.kind) : probe.kind == .safetensors
    }
    func readModel(_ path: String, _ request: FormatRequest) throws -> SourceModel {
        let (architecture, pool) = (request.architecture, request.reading.globalPool)
        guard container == .pytorch else { return try SafetensorsModel.read(path: path, expectedArchitecture: architecture, globalPool: pool) }
        let checks: TorchFile.RecordChecks
        switch request.purpose {
        case .summary: checks = .skip
        case .convert(let pending): checks = pending ? .deferredToReader : .onRead
        }
        return try TorchReader.read(path: path, expectedArchitecture: architecture, recordChecks: checks, globalPool: pool)
    }
    func inventory(_ path: String, _ request: FormatRequest) throws -> TensorInventory {
        container == .pytorch ? try TensorInventory.torch(path: path) : try TensorInventory.safetensors(path: path)
    }
    var writtenExtensions: [String] { container == .pytorch ? [".pth", ".pt"] : [".safetensors"] }
    func write(_ model: SourceModel, plan: ConversionPlan, to path: String, options: ConversionOptions,
               progress: WriteProgress?) throws -> Converter.ExportResult {
        try TorchKeyedExport.write(plan, to: path, format: container == .pytorch ? .pytorch : .safetensors, input: model.path,
                                   options: options, progress: progress)
    }
    /// safetensors records the architecture in its metadata; a state_dict records only keys.
    var capabilities: FormatCapabilities {
        FormatCapabilities(recordsArchitecture: container == .safetensors, recordsNesting: false, dtypes: TorchKeyedExport.dtypes)
    }
}

/// ONNX: read from every exporter's dialect (torch.onnx, tf2onnx, the model zoo), written at opset 17.
struct OnnxModelFormat: ModelFormat {
    var name: String { "ONNX" }
    func recognizes(_ probe: FileProbe) -> Bool { probe.kind == .onnx }
    func readModel(_ path: String, _ request: FormatRequest) throws -> SourceModel { try OnnxReader.read(path: path) }
    func inventory(_ path: String, _ request: FormatRequest) throws -> TensorInventory { try TensorInventory.onnx(path: path) }
    var writtenExtensions: [String] { [".onnx"] }
    func write(_ model: SourceModel, plan: ConversionPlan, to path: String, options: ConversionOptions,
               progress: WriteProgress?) throws -> Converter.ExportResult {
        let written = try OnnxWriter.write(plan, to: path, overwrite: options.overwrite, channelsLastInput: options.channelsLastInput,
                                           progress: progress)
        return Converter.ExportResult(outputPath: path, format: .onnx, tensorCount: written.initializers, bytes: written.bytes,
                                      torchvisionName: nil, modulePath: nil, moduleSource: nil, notes: [])
    }
    var capabilities: FormatCapabilities {
        FormatCapabilities(recordsArchitecture: true, recordsNesting: false, dtypes: [.float16, .float32], sourceNameTitle: "ONNX node")
    }
}

/// PyTorch-keyed outputs (`.pth`, `.safetensors`): when torchvision has no module for the keys, the
/// Python that builds one is written beside the weights, placed together with them.
enum TorchKeyedExport {
    /// The dtypes a PyTorch-keyed file stores.
    static let dtypes: Set<DType> = [.float16, .bfloat16, .float32, .float64]

    /// Writes `.pth` (`format` .pytorch) or `.safetensors` weights, and the module file when needed.
    static func write(_ plan: ConversionPlan, to path: String, format: Converter.OutputFormat, input: String, options: ConversionOptions,
                      progress: WriteProgress?) throws -> Converter.ExportResult {
        let layout = try TorchModuleLayout.of(plan.architecture)
        let modulePath = layout.moduleSource.map { _ in String(path[..<(path.lastIndex(of: ".") ?? path.endIndex)]) + ".py" }
        if let modulePath { try Converter.checkOutput(modulePath, inputs: [input], overwrite: options.overwrite) }
        let (tensorCount, bytes): (Int, Int)
        if format == .pytorch {
            let written = try PthWriter.write(plan, to: path, overwrite: options.overwrite, layout: layout, progress: progress)
            (tensorCount, bytes) = (written.tensorCount, written.bytes)
        } else {
            let written = try SafetensorsModel.write(plan, to: path, overwrite: options.overwrite, layout: layout, progress: progress)
            (tensorCount, bytes) = (written.tensors, written.bytes)
        }
        if let source = layout.moduleSource, let modulePath {
            let file = try OutputFile(path: modulePath, overwrite: options.overwrite)
            try Array(source.utf8).withUnsafeBytes { try file.write($0, at: 0) }
            try file.commit()
        }
        return Converter.ExportResult(outputPath: path, format: format, tensorCount: tensorCount, bytes: bytes,
                                      torchvisionName: layout.torchvisionName.map { "\($0)(num_classes=\(layout.torchvisionClasses ?? 1000))" },
                                      modulePath: modulePath, moduleSource: layout.moduleSource, notes: layout.notes)
    }
}
