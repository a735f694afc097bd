import FileIO
import VGGCore

/// Every dataset of an HDF5 file (or of the weights inside a `.keras` archive), whatever model it holds.
public enum HDF5Inventory {
    /// Lists all datasets depth-first in HDF5 name order; `sourceName` is the path without the leading `/`.
    /// - Throws: `HDF5Error` for unreadable files and datasets.
    public static func datasets(path: String) throws -> [SourceTensor] {
        try datasets(file: try MappedFile(path: path, role: .model))
    }

    /// `datasets(path:)` of a file already mapped, or of bytes in memory.
    public static func datasets(file mapped: MappedFile) throws -> [SourceTensor] {
        try CrashIsolation.isolated(mapped.path, fileBytes: mapped.count, encode: IsolatedRead.encode,
                                    decode: { try IsolatedRead.decodeTensors($0, file: mapped) }) {
            try datasetsInProcess(mapped)
        }
    }

    /// The walk itself; runs in the isolated child only.
    private static func datasetsInProcess(_ mapped: MappedFile) throws -> [SourceTensor] {
        let path = mapped.path
        let file: HDF5File
        if ZipArchive.hasMagic(mapped.bytes(offset: 0, length: 4)) {
            let archive = try ZipArchive(file: mapped)
            guard let entry = archive.entry(named: "model.weights.h5"), entry.method == 0 else {
                throw KerasFormatError.notKeras(path: path, reason: "zip archive has no stored model.weights.h5")
            }
            file = try HDF5File(file: mapped, offset: entry.dataOffset, count: entry.compressedSize,
                                displayPath: "\(path): model.weights.h5")
        } else {
            file = try HDF5File(file: mapped)
        }
        var found: [SourceTensor] = []
        try walk(try file.root, into: &found, depth: 0)
        return found
    }

    private static func walk(_ group: HDF5Group, into found: inout [SourceTensor], depth: Int) throws {
        guard depth < 64 else { throw group.error("groups nest deeper than 64 levels") }
        for name in try group.childNames() {
            if group.isDataset(name) {
                found.append(try TensorLoader.load(try group.dataset(name)))
            } else if group.isGroup(name) {
                try walk(try group.group(name), into: &found, depth: depth + 1)
            }
        }
    }
}
