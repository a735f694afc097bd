import CHDF5
import VGGCore

/// Writes the structure of an HDF5 file with libhdf5 — groups, string attributes and datasets whose
/// space is reserved (contiguous, allocated at creation, never filled) but not written — and reports
/// where each dataset's bytes belong, so the tensors can be streamed into the file afterwards without
/// passing through libhdf5 (the writer's own pipeline converts and checksums them on the way).
/// The file is what h5py writes by default: superblock v0, contiguous little-endian datasets, no filters.
final class HDF5SkeletonWriter {
    private let file: hid_t
    private let path: String
    private var datasets: [(id: hid_t, name: String, bytes: Int)] = []
    private var closed = false

    /// Creates (or truncates) the HDF5 file at `path`; `displayPath` names it in errors.
    init(path: String, displayPath: String) throws {
        CHDF5_silence_errors()
        self.path = displayPath
        file = H5Fcreate(path, CHDF5_F_ACC_TRUNC(), CHDF5_P_DEFAULT(), CHDF5_P_DEFAULT())
        guard file >= 0 else { throw HDF5Error(path: displayPath, object: "", reason: "the HDF5 library cannot create the file") }
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
        if failed { throw HDF5Error(path: path, object: "", reason: "the HDF5 library could not finish writing the file") }
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
