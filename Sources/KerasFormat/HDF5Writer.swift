import CHDF5
import FileIO
import VGGCore

/// Writes the structure of an HDF5 file with libhdf5 — groups, string attributes and datasets whose
/// space is reserved (contiguous, allocated at creation, never filled) but not written — and reports
/// where each dataset's bytes belong, so the tensors can be streamed into the file afterwards without
/// passing through libhdf5 (the writer's own pipeline converts and checksums them on the way).
/// The file is what h5py writes by default: superblock v0, contiguous little-endian datasets, no filters.
/// libhdf5 writes only in an isolated child (`write(_:to:displayPath:)`), as it reads only there: on a full
/// disk it crashes at exit, and a crash in the child is one clear error.
final class HDF5SkeletonWriter {
    /// Writes `skeleton` to `path` with libhdf5 in a forked child; returns where each reserved dataset's
    /// bytes start, in `reserveDataset` order.
    /// - Throws: `HDF5Error`, or `KerasFormatError.reported` with the child's error.
    static func write(_ skeleton: HDF5Skeleton, to path: String, displayPath: String) throws -> [Int] {
        try CrashIsolation.isolated(path, encode: { offsets in offsets.flatMap { withUnsafeBytes(of: Int64($0).littleEndian, Array.init) } },
                                    decode: { bytes in
            guard bytes.count % 8 == 0, bytes.count / 8 == skeleton.datasetCount else {
                throw HDF5Error(path: displayPath, object: "", reason: "the HDF5 writer returned \(bytes.count) bytes for \(skeleton.datasetCount) dataset offsets")
            }
            return bytes.withUnsafeBytes { raw in
                (0..<skeleton.datasetCount).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
            }
        }) {
            let writer = try HDF5SkeletonWriter(path: path, displayPath: displayPath)
            for step in skeleton.steps {
                switch step {
                case .group(let group): try writer.createGroup(group)
                case .strings(let values, let name, let object, let scalar): try writer.setStrings(values, named: name, on: object, scalar: scalar)
                case .emptyList(let name, let object): try writer.setEmptyList(named: name, on: object)
                case .dataset(let dataset, let dtype, let shape): _ = try writer.reserveDataset(dataset, dtype: dtype, shape: shape)
                }
            }
            return try writer.finish()
        }
    }

    private let file: hid_t
    private let path: String
    private var datasets: [(id: hid_t, name: String, bytes: Int)] = []
    private var closed = false

    /// Creates (or truncates) the HDF5 file at `path`; `displayPath` names it in errors.
    init(path: String, displayPath: String) throws {
        CHDF5_silence_errors()
        self.path = displayPath
        file = H5Fcreate(path, CHDF5_F_ACC_TRUNC(), CHDF5_P_DEFAULT(), CHDF5_P_DEFAULT())
        guard file >= 0 else {
            let full = Self.fullDeviceNote(path)
            throw HDF5Error(path: displayPath, object: "", reason: "the HDF5 library cannot create the file\(full)")
        }
    }

    deinit { try? close() }

    /// Creates the group at `groupPath` (and any missing parents).
    func createGroup(_ groupPath: String) throws {
        let links = try linkProperties()
        defer { H5Pclose(links) }
        let group = H5Gcreate2(file, groupPath, links, CHDF5_P_DEFAULT(), CHDF5_P_DEFAULT())
        guard group >= 0 else { throw failure(groupPath, "cannot create the group") }
        H5Gclose(group)
    }

    /// Sets attribute `name` of the object at `objectPath` to fixed-length, NUL-padded strings (what numpy's
    /// `S` dtype gives): a 1-D list, or a scalar when `scalar` is set. Loaders that call `.decode()` on
    /// each value (Keras ≤ 2.3, TF 1.x) and current ones both read it.
    func setStrings(_ values: [String], named name: String, on objectPath: String, scalar: Bool = false) throws {
        precondition(!scalar || values.count == 1)
        let encoded = values.map { Array($0.utf8) }
        let width = max(1, encoded.map(\.count).max() ?? 1)
        let type = H5Tcopy(CHDF5_T_C_S1())
        defer { H5Tclose(type) }
        guard type >= 0, H5Tset_size(type, width) >= 0, H5Tset_strpad(type, H5T_STR_NULLPAD) >= 0,
              H5Tset_cset(type, encoded.joined().allSatisfy { $0 < 0x80 } ? H5T_CSET_ASCII : H5T_CSET_UTF8) >= 0
        else { throw failure(objectPath, "cannot make a string type for attribute \(name)") }
        var buffer = [UInt8](repeating: 0, count: width * max(1, values.count))
        for (index, bytes) in encoded.enumerated() { buffer.replaceSubrange(index * width..<(index * width + bytes.count), with: bytes) }
        let space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, [hsize_t(values.count)], nil)
        try writeAttribute(name, on: objectPath, type: type, space: space, buffer: buffer)
    }

    /// Sets attribute `name` to an empty float64 list, as tf-keras writes `weight_names` of a layer without weights.
    func setEmptyList(named name: String, on objectPath: String) throws {
        let type = CHDF5_T_IEEE_F64LE()
        defer { H5Tclose(type) }
        try writeAttribute(name, on: objectPath, type: type, space: H5Screate_simple(1, [0], nil), buffer: [0])
    }

    private func writeAttribute(_ name: String, on objectPath: String, type: hid_t, space: hid_t, buffer: [UInt8]) throws {
        defer { if space >= 0 { H5Sclose(space) } }
        let object = H5Oopen(file, objectPath, CHDF5_P_DEFAULT())
        guard space >= 0, object >= 0 else { throw failure(objectPath, "cannot open the object for attribute \(name)") }
        defer { H5Oclose(object) }
        let attribute = H5Acreate2(object, name, type, space, CHDF5_P_DEFAULT(), CHDF5_P_DEFAULT())
        guard attribute >= 0 else {
            throw failure(objectPath, "cannot create attribute \(name) (\(buffer.count) bytes; an attribute holds at most 64 KiB)")
        }
        defer { H5Aclose(attribute) }
        guard buffer.withUnsafeBytes({ H5Awrite(attribute, type, $0.baseAddress) }) >= 0 else {
            throw failure(objectPath, "cannot write attribute \(name)")
        }
    }

    /// Creates the dataset at `datasetPath` (parents created as needed) with its space reserved, and
    /// returns its index in `finish()`'s result. Floating-point dtypes only (what Keras variables hold).
    func reserveDataset(_ datasetPath: String, dtype: DType, shape: [Int]) throws -> Int {
        let type: hid_t
        switch dtype {
        case .float16: type = CHDF5_T_IEEE_F16LE()
        case .float32: type = CHDF5_T_IEEE_F32LE()
        case .float64: type = CHDF5_T_IEEE_F64LE()
        default: throw failure(datasetPath, "Keras weights are float16, float32 or float64, not \(dtype.rawValue)")
        }
        defer { if type >= 0 { H5Tclose(type) } }
        let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(shape.count), shape.map { hsize_t($0) }, nil)
        defer { if space >= 0 { H5Sclose(space) } }
        let creation = H5Pcreate(CHDF5_P_DATASET_CREATE())
        defer { if creation >= 0 { H5Pclose(creation) } }
        let links = try linkProperties()
        defer { H5Pclose(links) }
        guard type >= 0, space >= 0, creation >= 0, H5Pset_layout(creation, H5D_CONTIGUOUS) >= 0,
              H5Pset_alloc_time(creation, H5D_ALLOC_TIME_EARLY) >= 0, H5Pset_fill_time(creation, H5D_FILL_TIME_NEVER) >= 0
        else { throw failure(datasetPath, "cannot prepare the dataset's type, shape or layout") }
        let dataset = H5Dcreate2(file, datasetPath, type, space, links, creation, CHDF5_P_DEFAULT())
        guard dataset >= 0 else { throw failure(datasetPath, "cannot create the dataset") }
        datasets.append((dataset, datasetPath, (ShapeMath.elementCount(shape) ?? 0) * dtype.byteSize))
        return datasets.count - 1
    }

    /// Where each reserved dataset's bytes start in the file, in `reserveDataset` order; closes the file
    /// (libhdf5 writes its metadata on close; the reserved ranges stay unwritten).
    func finish() throws -> [Int] {
        var offsets: [Int] = []
        for dataset in datasets {
            let offset = H5Dget_offset(dataset.id)
            guard offset != CHDF5_HADDR_UNDEF(), offset < UInt64(Int.max) else {
                throw failure(dataset.name, "has no contiguous storage allocated")
            }
            offsets.append(Int(offset))
        }
        try close()
        return offsets
    }

    private func close() throws {
        guard !closed else { return }
        closed = true
        var failed = false
        for dataset in datasets { failed = H5Dclose(dataset.id) < 0 || failed }
        // Every id is closed first: with any open, H5Fclose would leave the file unflushed.
        failed = H5Fclose(file) < 0 || failed
        if failed {
            let full = Self.fullDeviceNote(path)
            throw HDF5Error(path: path, object: "", reason: "the HDF5 library could not finish writing the file\(full)")
        }
    }

    /// ": the device is full (N bytes free)" when under 1 MiB is left where `path` is written, else "".
    private static func fullDeviceNote(_ path: String) -> String {
        OutputFile.freeBytes(near: path).map { $0 < 1 << 20 ? ": the device is full (\($0) bytes free)" : "" } ?? ""
    }

    private func linkProperties() throws -> hid_t {
        let links = H5Pcreate(CHDF5_P_LINK_CREATE())
        guard links >= 0, H5Pset_create_intermediate_group(links, 1) >= 0 else {
            if links >= 0 { H5Pclose(links) }
            throw HDF5Error(path: path, object: "", reason: "cannot set up HDF5 link creation")
        }
        return links
    }

    private func failure(_ object: String, _ reason: String) -> HDF5Error {
        HDF5Error(path: path, object: object, reason: reason)
    }
}

/// The structure of an HDF5 file to write, recorded as plain data by the Keras layouts and replayed by
/// libhdf5 in an isolated child (`HDF5SkeletonWriter.write`). Methods mirror the writer's.
final class HDF5Skeleton {
    enum Step {
        case group(String)
        case strings([String], name: String, on: String, scalar: Bool)
        case emptyList(name: String, on: String)
        case dataset(String, DType, [Int])
    }
    private(set) var steps: [Step] = []
    private(set) var datasetCount = 0

    func createGroup(_ groupPath: String) { steps.append(.group(groupPath)) }

    func setStrings(_ values: [String], named name: String, on objectPath: String, scalar: Bool = false) {
        steps.append(.strings(values, name: name, on: objectPath, scalar: scalar))
    }

    func setEmptyList(named name: String, on objectPath: String) { steps.append(.emptyList(name: name, on: objectPath)) }

    /// Records a dataset whose space is reserved; its offset is `write`'s result at this index.
    func reserveDataset(_ datasetPath: String, dtype: DType, shape: [Int]) {
        steps.append(.dataset(datasetPath, dtype, shape))
        datasetCount += 1
    }
}
