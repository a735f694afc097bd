import Foundation
import TorchFormat
import FileIO
import VGGCore

/// safetensors files as models: read (vggconv's own files through the architecture they carry in
/// `__metadata__`; anyone else's through their torchvision or nn.Sequential state_dict keys, like a
/// `.pth`) and written (the `.pth` writer's keys, the architecture and provenance in `__metadata__`).
public enum SafetensorsModel {
    /// `__metadata__` keys vggconv writes (all values are strings, as the format requires).
    enum MetadataKey {
        static let format = "format", architecture = "vggconv_architecture", names = "vggconv_names"
        static let provenance = "vggconv_source"
    }

    /// The model in `path`.
    /// - Throws: `VGGError.badSafetensors` for a damaged container, `TorchFormatError.architecture` for keys
    ///   that do not form a VGG-style network.
    /// `globalPool` is the pooling of a head that takes the channel count (nil: average, noted).
    public static func read(path: String, expectedArchitecture: String? = nil, globalPool: LayerType? = nil) throws -> SourceModel {
        try read(file: try SafetensorsFile(path: path), expectedArchitecture: expectedArchitecture, globalPool: globalPool)
    }

    /// `read(path:…)` of a validated container (a file mapped, or bytes in memory).
    public static func read(file: SafetensorsFile, expectedArchitecture: String? = nil, globalPool: LayerType? = nil) throws -> SourceModel {
        let path = file.path
        func tensor(_ entry: SafetensorsFile.Entry, layout: TensorLayout = .unknown) -> SourceTensor {
            SourceTensor(sourceName: entry.name, dtype: entry.dtype, shape: entry.shape, layout: layout,
                         data: file.data(of: entry), fileOffset: entry.offset)
        }
        if let architectureJSON = file.metadata[MetadataKey.architecture], let namesJSON = file.metadata[MetadataKey.names] {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            guard let architecture = try? decoder.decode(NativeArchitecture.self, from: Data(architectureJSON.utf8)),
                  let names = try? JSONDecoder().decode([String: String].self, from: Data(namesJSON.utf8)) else {
                throw VGGError.badSafetensors(path: path, reason: "its vggconv metadata does not decode; was it edited?")
            }
            var tensors: [String: SourceTensor] = [:]
            for entry in file.entries {
                if let canonical = names[entry.name] { tensors[canonical] = tensor(entry) }
            }
            return SourceModel.canonical(architecture, tensors: tensors, format: "safetensors", path: path,
                                         notes: ["architecture read from the file's vggconv metadata"])
        }
        // safetensors keeps no module order (safetensors.torch.save_file sorts keys by name): restore it.
        var timm = false
        let keyed = moduleOrder(file.entries).map { entry -> KeyedTensor in
            guard let (key, shape) = timmEquivalent(entry) else {
                return KeyedTensor(key: entry.name, fullPath: entry.name, shape: entry.shape) { tensor(entry) }
            }
            timm = true
            return KeyedTensor(key: key, fullPath: entry.name, shape: shape) {
                var reshaped = tensor(entry)
                reshaped.shape = shape
                return reshaped
            }
        }
        var (layers, name, notes, assumptions) = try TorchArchitecture.layers(keyed, path: path, pool: globalPool)
        if timm {
            notes.append("timm VGG: pre_logits.fc1 (a 7x7 convolution over the 7x7 feature map) read as the Dense layer it equals, pre_logits.fc2 (1x1) and head.fc as Dense layers")
        }
        if let expectedArchitecture, expectedArchitecture.lowercased() != name {
            throw TorchFormatError.notAssertedArchitecture(path: path, asserted: expectedArchitecture, found: name)
        }
        if let name { notes.insert("recognised torchvision \(name)", at: 0) }
        var model = SourceModel(format: "safetensors", path: path, layers: layers, inputShape: nil, dataFormat: .channelsFirst,
                                architectureInferred: true, notes: notes)
        model.assumptions = assumptions
        model.modelName = name
        return model
    }

    /// timm's VGG head as torchvision's classifier: `pre_logits.fc1` (conv K×C×7×7 over the last 7×7 map)
    /// is the Dense K×(C·7·7) in C,H,W order, `pre_logits.fc2` (conv K×C×1×1) the Dense K×C, `head.fc`
    /// the last Dense. Returns the torchvision key and the Dense shape (same bytes), nil for other keys.
    static func timmEquivalent(_ entry: SafetensorsFile.Entry) -> (String, [Int])? {
        let slots = ["pre_logits.fc1": 0, "pre_logits.fc2": 3, "head.fc": 6]
        let parts = entry.name.split(separator: ".").map(String.init)
        guard parts.count >= 2, let slot = slots[parts.dropLast().joined(separator: ".")] else { return nil }
        let key = "classifier.\(slot).\(parts.last!)"
        guard entry.shape.count == 4 else { return (key, entry.shape) }
        guard let inputs = ShapeMath.elementCount(Array(entry.shape.dropFirst())) else { return nil }
        return (key, [entry.shape[0], inputs])
    }

    /// Entries in module order: `features` before any other container (`classifier`, …), then by module
    /// index numerically (`features.2` before `features.10`), then in the order PyTorch lists a module's
    /// parameters and buffers.
    static func moduleOrder(_ entries: [SafetensorsFile.Entry]) -> [SafetensorsFile.Entry] {
        let parameterRank = ["weight": 0, "bias": 1, "running_mean": 2, "running_var": 3, "num_batches_tracked": 4]
        func key(_ entry: SafetensorsFile.Entry) -> (Int, String, Int, Int) {
            let parts = entry.name.split(separator: ".").map(String.init)
            let index = parts.count >= 2 ? Int(parts[parts.count - 2]) ?? Int.max : Int.max
            let container = parts.count > 2 ? parts.dropLast(2).joined(separator: ".") : ""
            // timm's head follows its features: pre_logits.fc1, pre_logits.fc2, then head.fc.
            let timmRank = ["pre_logits.fc1": 1, "pre_logits.fc2": 2, "head.fc": 3][parts.dropLast().joined(separator: ".")]
            if let timmRank { return (1, "~timm", timmRank, parameterRank[parts.last ?? ""] ?? 5) }
            return (container == "features" || container.isEmpty ? 0 : 1, container, index, parameterRank[parts.last ?? ""] ?? 5)
        }
        return entries.sorted { key($0) < key($1) }
    }

    /// Every tensor of any safetensors file, by its own name (for `inspect`).
    public static func inventory(path: String) throws -> [SourceTensor] {
        inventory(file: try SafetensorsFile(path: path))
    }

    /// `inventory(path:)` of a validated container.
    public static func inventory(file: SafetensorsFile) -> [SourceTensor] {
        file.entries.map {
            SourceTensor(sourceName: $0.name, dtype: $0.dtype, shape: $0.shape, layout: .unknown, data: file.data(of: $0), fileOffset: $0.offset)
        }
    }

    /// Writes `plan` to `path` with the `.pth` writer's keys (`TorchModuleLayout`), so
    /// `model.load_state_dict(safetensors.torch.load_file(path))` works wherever the `.pth` loads.
    /// - Throws: `VGGError` for unwritable outputs and layers PyTorch's modules cannot reproduce.
    /// `layout` is `TorchModuleLayout.of(plan.architecture)` when the caller has it already.
    public static func write(_ plan: ConversionPlan, to path: String, overwrite: Bool, layout known: TorchModuleLayout? = nil,
                             progress: WriteProgress? = nil) throws -> (layout: TorchModuleLayout, tensors: Int, bytes: Int) {
        let layout = try known ?? TorchModuleLayout.of(plan.architecture)
        let planned = Dictionary(plan.tensors.map { ($0.name, $0) }) { first, _ in first }
        let records = try layout.records(plan)
        let header = records.map { (name: $0.key, dtype: $0.dtype, shape: $0.shape) }
        let sources = records.map(\.source)
        var names: [String: String] = [:]
        for entry in layout.entries { if case .tensor(let key, let canonical) = entry, planned[canonical] != nil { names[key] = canonical } }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        let metadata = [
            MetadataKey.format: "pt",
            MetadataKey.architecture: String(decoding: try encoder.encode(plan.architecture), as: UTF8.self),
            MetadataKey.names: String(decoding: try JSONEncoder().encode(names), as: UTF8.self),
            MetadataKey.provenance: "\(plan.sourceFormat): \(plan.sourcePath)",
        ]
        let container = try SafetensorsLayout(header, metadata: metadata)
        let output = try OutputFile(path: path, overwrite: overwrite)
        try container.header.withUnsafeBytes { try output.write($0, at: 0) }
        let streamed = sources.enumerated().compactMap { index, tensor in tensor.map { (container.offsets[index], $0) } }
        _ = try TensorStreamer.write(streamed.map(\.1), at: streamed.map(\.0), to: output, checksums: false, progress: progress)
        for (index, record) in records.enumerated() where record.source == nil {
            try record.bytes.withUnsafeBytes { try output.write($0, at: container.offsets[index]) }
        }
        try output.commit()
        return (layout, header.count, container.totalBytes)
    }
}
