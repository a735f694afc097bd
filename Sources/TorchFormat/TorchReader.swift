import FileIO
import VGGCore

/// Reads PyTorch files for vggconv: any state_dict or checkpoint for `inspect`, VGG-style ones as a
/// `SourceModel` for conversion and summaries.
public enum TorchReader {
    /// Every tensor of any `torch.save` file, with its key path, plus the non-tensor leaves.
    /// - Throws: `TorchFormatError` or `VGGError`.
    public static func inventory(path: String) throws -> (format: String, tensors: [SourceTensor], others: [(String, String)]) {
        try inventory(file: try MappedFile(path: path))
    }

    /// `inventory(path:)` of a file already mapped, or bytes in memory.
    public static func inventory(file mapped: MappedFile) throws -> (format: String, tensors: [SourceTensor], others: [(String, String)]) {
        let file = try TorchFile(file: mapped)
        let path = mapped.path
        let (references, others) = try StateDict.flatten(file.root, path: path, budget: file.pickleBytes + 1024)
        let tensors = try references.map { try file.materialize($0.1, name: $0.0) }
        return (file.format, tensors, others)
    }

    /// The VGG-style model in `path` (a state_dict, or a checkpoint holding one).
    /// `expectedArchitecture` (`vgg16`, `vgg16_bn`, …) is asserted when given.
    /// - Throws: `TorchFormatError.architecture` when the keys do not form a VGG-style stack or the
    ///   recognised model is not the one asserted.
    /// `recordChecks: .skip` reads no tensor data (contiguous tensors then only point into the memory
    /// map); `.deferredToReader` leaves whole-record checksums to the writer that streams them.
    /// `globalPool` is the pooling of a head that takes the channel count (nil: average, noted).
    public static func read(path: String, expectedArchitecture: String? = nil,
                            recordChecks: TorchFile.RecordChecks = .onRead, globalPool: LayerType? = nil) throws -> SourceModel {
        try read(file: try MappedFile(path: path), expectedArchitecture: expectedArchitecture, recordChecks: recordChecks, globalPool: globalPool)
    }

    /// `read(path:…)` of a file already mapped, or bytes in memory.
    public static func read(file mapped: MappedFile, expectedArchitecture: String? = nil,
                            recordChecks: TorchFile.RecordChecks = .onRead, globalPool: LayerType? = nil) throws -> SourceModel {
        let file = try TorchFile(file: mapped, recordChecks: recordChecks)
        let path = mapped.path
        let (tensors, container) = try StateDict.locate(file.root, path: path)
        let keyed = tensors.map { entry in
            KeyedTensor(key: entry.key, fullPath: entry.fullPath, shape: entry.tensor.shape) {
                try file.materialize(entry.tensor, name: entry.fullPath)
            }
        }
        var (layers, name, notes, assumptions) = try TorchArchitecture.layers(keyed, path: path, pool: globalPool)
        if let expectedArchitecture, expectedArchitecture.lowercased() != name {
            throw TorchFormatError.notAssertedArchitecture(path: path, asserted: expectedArchitecture, found: name)
        }
        if let container { notes.insert("weights taken from the checkpoint's '\(container)' entry", at: 0) }
        if let name { notes.insert("recognised torchvision \(name)", at: 0) }
        var model = SourceModel(format: file.format, path: path, layers: layers, inputShape: nil, dataFormat: .channelsFirst,
                                architectureInferred: true, notes: notes)
        model.assumptions = assumptions
        model.modelName = name
        return model
    }
}
