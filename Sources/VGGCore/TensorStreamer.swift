import FileIO
import Foundation

/// Progress of a writer: bytes of tensor data written so far, and in total.
public typealias WriteProgress = (_ done: Int, _ total: Int) -> Void

/// Checksums and writes blocks on its own serial queue, so that producing the next block (transposing on
/// every core) overlaps with writing the previous one. Blocks go where the tensor continues, or at an
/// explicit offset (a block whose rows lie in several runs of the output); the tensor's CRC is combined
/// from the blocks' in file order.
final class BlockSink: @unchecked Sendable {
    // Mutable state is touched only on `queue` (and read after `drain()`).
    private let output: OutputFile
    private let total: Int
    private let progress: WriteProgress?
    private let queue = DispatchQueue(label: "vggconv.native-writer")
    private var written = 0
    private var parts: [(offset: Int, length: Int, crc: UInt32)] = []
    private var position = 0
    private var failure: Error?

    /// Whether the output format records CRC-32s (the sink then computes what the producer did not).
    let checksums: Bool

    init(output: OutputFile, total: Int, checksums: Bool = true, progress: WriteProgress?) {
        self.output = output
        self.total = total
        self.checksums = checksums
        self.progress = progress
    }

    // Touched only by the producing thread, between tensors (after the previous tensor drained).
    private var pool: [ScratchBuffer] = []

    /// `count` buffers of at least `bytes` for double buffering, reused across the tensors of one write:
    /// fresh memory costs a zeroing page fault per page (a third of an export's time when each tensor
    /// allocated its own).
    func scratch(_ count: Int, bytes: Int) -> [ScratchBuffer] {
        while pool.count < count { pool.append(ScratchBuffer(count: bytes)) }
        for index in 0..<count where pool[index].bytes.count < bytes { pool[index] = ScratchBuffer(count: bytes) }
        return Array(pool.prefix(count))
    }

    /// Starts a tensor at `offset`.
    func begin(at offset: Int) {
        queue.sync {
            position = offset
            parts = []
        }
    }

    // Touched only by the producing thread, like `pool`.
    private var stagingPool: ScratchBuffer?

    /// Sizes the buffers a write will need once, up front: growing them tensor by tensor remapped
    /// fresh memory mid-stream (fresh pages are the slow part on the VMs measured).
    func reserve(blockBytes: Int, stagingBytes: Int) {
        _ = scratch(2, bytes: blockBytes)
        if stagingBytes > 0 { _ = staging(bytes: stagingBytes) }
    }

    /// One buffer of at least `bytes` for reading a whole source tensor, reused across tensors.
    func staging(bytes: Int) -> UnsafeMutableRawBufferPointer {
        if (stagingPool?.bytes.count ?? -1) < bytes { stagingPool = ScratchBuffer(count: bytes) }
        return UnsafeMutableRawBufferPointer(rebasing: stagingPool!.bytes[0..<bytes])
    }

    /// Queues `block` (which must stay valid until `done` runs) for the file offset `offset`, or where
    /// the tensor's previous sequential block ended, and returns at once. `crc`: the block's CRC-32 when
    /// the producer computed it already (it is then not computed again).
    func write(_ block: UnsafeRawBufferPointer, at offset: Int? = nil, crc: UInt32? = nil, done: (@Sendable () -> Void)? = nil) {
        let view = SharedBuffer(block)
        queue.async {
            defer { done?() }
            guard self.failure == nil else { return }
            do {
                let at = offset ?? self.position
                self.parts.append((at, view.pointer.count, crc ?? (self.checksums ? CRC32.of(view.pointer) : 0)))
                try self.output.write(view.pointer, at: at)
                if offset == nil { self.position += view.pointer.count }
                self.written += view.pointer.count
                self.progress?(self.written, self.total)
            } catch {
                self.failure = error
            }
        }
    }

    /// Waits for every queued block; returns the tensor's checksum or throws the first write error.
    func drain() throws -> UInt32 {
        try queue.sync {
            if let failure { throw failure }
            var crc = CRC32()
            for part in parts.sorted(by: { $0.offset < $1.offset }) { crc.append(part.crc, length: part.length) }
            return crc.value
        }
    }
}

/// Streams planned tensors into an output file, converting layouts and dtypes block by block on the way
/// (the source is read once; nothing holds a whole converted model in memory).
public enum TensorStreamer {
    /// The largest block a conversion produces at once (two are in flight).
    static let blockBytes = 8 << 20
    /// Copies read through blocks this large: small enough to stay in a core's L2 between the read, the
    /// checksum and the write.
    static let copyBlockBytes = 2 << 20
    /// Tensors up to this size are read whole with `pread` before a layout conversion; larger ones are
    /// converted straight from the memory map.
    static let stagingBytes = 10 << 20

    /// Writes each tensor of `tensors`, converted, at the matching offset of `offsets`; returns each
    /// tensor's CRC-32. Every writer (`.vggw`, `.pth`, …) goes through here.
    /// `checksums: false` skips the CRC-32s (formats that record none: HDF5, safetensors, ONNX); the
    /// result is then all zeros. A checksum the source left pending (`TensorData.pendingChecksum`) is
    /// always checked, on the bytes as they are read for writing: a damaged record fails the write.
    public static func write(_ tensors: [PlannedTensor], at offsets: [Int], to output: OutputFile,
                             checksums: Bool = true, progress: WriteProgress? = nil) throws -> [UInt32] {
        let sink = BlockSink(output: output, total: tensors.reduce(0) { $0 + $1.nbytes }, checksums: checksums, progress: progress)
        // Buffers before the prefetcher starts: while it maps a tensor in, the kernel holds this process's
        // memory-map lock and every mmap of another thread waits for it.
        sink.reserve(blockBytes: min(blockBytes, tensors.map(\.nbytes).max() ?? 0),
                     stagingBytes: tensors.filter { isStaged($0) }.map(\.data.count).max() ?? 0)
        let prefetcher = MapPrefetcher(tensors.map { readsTheMap($0) ? $0.data : nil })
        defer { prefetcher.cancel() }
        return try zip(tensors, offsets).enumerated().map { index, item in
            try stream(item.0, as: index, to: sink, at: item.1, prefetcher: prefetcher)
        }
    }

    /// Whether `tensor` is a plain copy of mapped bytes (read through small blocks).
    private static func isCopiedByReading(_ tensor: PlannedTensor) -> Bool {
        tensor.data.isMapped && tensor.conversion == .identity && tensor.dtype == tensor.sourceDType
    }

    /// Whether `tensor` is read whole into the staging buffer before its conversion.
    private static func isStaged(_ tensor: PlannedTensor) -> Bool {
        tensor.data.isMapped && tensor.data.count <= stagingBytes && !isCopiedByReading(tensor)
    }

    /// Whether `tensor` is converted straight from the memory map (a large transpose or dtype change).
    private static func readsTheMap(_ tensor: PlannedTensor) -> Bool {
        tensor.data.isMapped && tensor.data.count > stagingBytes && !isCopiedByReading(tensor)
    }

    /// `tensor`'s layout conversion applied in memory, still in its source dtype: for the rare export
    /// whose target layout is neither the source's nor one transpose away from it.
    /// - Throws: `VGGError.badZip` when the source's pending checksum fails.
    public static func materialize(_ tensor: PlannedTensor) throws -> TensorData {
        try tensor.data.withUnsafeBytes { source in
            try tensor.data.pendingChecksum?.check(CRC32.of(source))
            var bytes = [UInt8](repeating: 0, count: source.count)
            bytes.withUnsafeMutableBytes { into in
                switch tensor.conversion {
                case .identity: into.copyMemory(from: source)
                case .interleavedTranspose(let t):
                    t.applyInParallel(source: source, resultRows: 0..<t.columns, elementSize: tensor.sourceDType.byteSize, into: into)
                case .deinterleavedTranspose(let t):
                    t.applyInverseInParallel(result: source, sourceRows: 0..<t.rows, elementSize: tensor.sourceDType.byteSize, into: into)
                }
            }
            return TensorData(bytes: bytes)
        }
    }

    /// Streams `tensor` to `sink` starting at file offset `offset`; returns its CRC-32. Mapped bytes are
    /// read with `pread` (a plain copy through small blocks, or a whole small tensor before its
    /// transpose); only large transposes read the memory map, whose pages are released afterwards.
    /// `index`: the tensor's place in the write, for `prefetcher`.
    static func stream(_ tensor: PlannedTensor, as index: Int, to sink: BlockSink, at offset: Int, prefetcher: MapPrefetcher) throws -> UInt32 {
        sink.begin(at: offset)
        if isCopiedByReading(tensor) { return try copyByReading(tensor, to: sink) }
        if isStaged(tensor) {
            let staging = sink.staging(bytes: tensor.data.count)
            try tensor.data.read(0..<tensor.data.count, into: staging)
            try tensor.data.pendingChecksum?.check(CRC32.of(UnsafeRawBufferPointer(staging)))
            return try convert(tensor, from: UnsafeRawBufferPointer(staging), to: sink, at: offset)
        }
        prefetcher.waitUntilMapped(index)
        defer {
            tensor.data.releasePages()
            prefetcher.didRelease(index)
        }
        return try tensor.data.withUnsafeBytes { source in
            try tensor.data.pendingChecksum?.check(CRC32.of(source))
            return try convert(tensor, from: source, to: sink, at: offset)
        }
    }

    /// Copies a mapped tensor unchanged: each block is read, checksummed while it is in cache (the one
    /// CRC-32 of these bytes: it is both the output's and the check of the source's pending one) and
    /// written while the next is read.
    private static func copyByReading(_ tensor: PlannedTensor, to sink: BlockSink) throws -> UInt32 {
        let count = tensor.data.count
        let pending = tensor.data.pendingChecksum
        let checksummed = sink.checksums || pending != nil
        let blocks = stride(from: 0, to: count, by: copyBlockBytes).map { $0..<min($0 + copyBlockBytes, count) }
        try produceDoubleBuffered(blocks: blocks, bytesPerBlock: min(count, copyBlockBytes), sink: sink) { range, buffer in
            try tensor.data.read(range, into: buffer)
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<range.count])
            var crc = CRC32()
            if checksummed { crc.update(bytes) }
            return [(0..<range.count, nil, checksummed ? crc.value : nil)]
        }
        let crc = try sink.drain()
        try pending?.check(crc)
        return crc
    }

    /// Streams `tensor`'s bytes `source`, converted; returns the CRC-32 of what was written.
    private static func convert(_ tensor: PlannedTensor, from source: UnsafeRawBufferPointer, to sink: BlockSink, at offset: Int) throws -> UInt32 {
        switch tensor.conversion {
        case .identity where tensor.dtype == tensor.sourceDType:
            // Slices of the source stay valid until `drain` returns.
            var start = 0
            while start < source.count {
                let end = min(start + blockBytes, source.count)
                sink.write(UnsafeRawBufferPointer(rebasing: source[start..<end]))
                start = end
            }
        case .identity:
            let count = source.count / tensor.sourceDType.byteSize
            let step = max(1, blockBytes / 8)
            try produceDoubleBuffered(blocks: stride(from: 0, to: count, by: step).map { $0..<min($0 + step, count) },
                                      bytesPerBlock: step * tensor.dtype.byteSize, sink: sink) { elements, buffer in
                let slice = UnsafeRawBufferPointer(rebasing: source[(elements.lowerBound * tensor.sourceDType.byteSize)...])
                FloatConversion.convert(slice, from: tensor.sourceDType, into: buffer, to: tensor.dtype, count: elements.count)
                return elements.count * tensor.dtype.byteSize
            }
        case .interleavedTranspose(let transpose):
            try produceTransposed(rows: transpose.columns, rowElements: transpose.rows, tensor, sink: sink) { rows, into in
                transpose.applyInParallel(source: source, resultRows: rows, elementSize: tensor.sourceDType.byteSize, into: into,
                                          cores: Cores.producers)
            }
        case .deinterleavedTranspose(let transpose) where transpose.groups > 1:
            try produceDeinterleavedByChannels(transpose, tensor, source: source, sink: sink, at: offset)
        case .deinterleavedTranspose(let transpose):
            try produceTransposed(rows: transpose.rows, rowElements: transpose.columns, tensor, sink: sink) { rows, into in
                transpose.applyInverseInParallel(result: source, sourceRows: rows, elementSize: tensor.sourceDType.byteSize, into: into,
                                                 cores: Cores.producers)
            }
        }
        return try sink.drain()
    }

    /// Streams a transposed tensor of `rows` result rows (`rowElements` elements each) in blocks of whole
    /// rows; `transpose` writes result rows in the source dtype, converted afterwards when the dtype changes.
    private static func produceTransposed(rows: Int, rowElements: Int, _ tensor: PlannedTensor, sink: BlockSink,
                                          transpose: (Range<Int>, UnsafeMutableRawBufferPointer) -> Void) throws {
        let rowBytes = rowElements * tensor.sourceDType.byteSize
        let rowsPerBlock = max(1, blockBytes / max(1, rowBytes))
        let staging = tensor.dtype != tensor.sourceDType ? ScratchBuffer(count: min(rows, rowsPerBlock) * rowBytes) : nil
        let blocks = stride(from: 0, to: rows, by: rowsPerBlock).map { $0..<min($0 + rowsPerBlock, rows) }
        try produceDoubleBuffered(blocks: blocks, bytesPerBlock: min(rows, rowsPerBlock) * rowElements * tensor.dtype.byteSize,
                                  sink: sink) { block, buffer in
            guard let staging else {
                transpose(block, buffer)
                return block.count * rowBytes
            }
            transpose(block, staging.bytes)
            let n = block.count * rowElements
            FloatConversion.convert(UnsafeRawBufferPointer(staging.bytes), from: tensor.sourceDType, into: buffer, to: tensor.dtype, count: n)
            return n * tensor.dtype.byteSize
        }
    }

    /// Streams an inverse transpose with groups by blocks of channels (see `applyInverseByChannels`): each block
    /// reads one contiguous run of every source row and lands in one run of the output per group.
    private static func produceDeinterleavedByChannels(_ transpose: InterleavedTranspose, _ tensor: PlannedTensor,
                                                       source: UnsafeRawBufferPointer, sink: BlockSink, at offset: Int) throws {
        let (inSize, outSize) = (tensor.sourceDType.byteSize, tensor.dtype.byteSize)
        let channelsPerBlock = max(1, blockBytes / (transpose.groups * transpose.columns * max(inSize, outSize)))
        let blocks = stride(from: 0, to: transpose.channels, by: channelsPerBlock).map { $0..<min($0 + channelsPerBlock, transpose.channels) }
        let blockElements = min(channelsPerBlock, transpose.channels) * transpose.groups * transpose.columns
        let staging = tensor.dtype != tensor.sourceDType ? ScratchBuffer(count: blockElements * inSize) : nil
        try produceDoubleBuffered(blocks: blocks, bytesPerBlock: blockElements * outSize, sink: sink) { channels, buffer in
            let n = channels.count * transpose.groups * transpose.columns
            if let staging {
                transpose.applyInverseByChannels(result: source, channels: channels, elementSize: inSize, into: staging.bytes,
                                                 cores: Cores.producers)
                FloatConversion.convert(UnsafeRawBufferPointer(staging.bytes), from: tensor.sourceDType, into: buffer, to: tensor.dtype, count: n)
            } else {
                transpose.applyInverseByChannels(result: source, channels: channels, elementSize: inSize, into: buffer,
                                                 cores: Cores.producers)
            }
            let run = channels.count * transpose.columns * outSize
            return (0..<transpose.groups).map { g in
                (g * run..<(g + 1) * run, offset + (g * transpose.channels + channels.lowerBound) * transpose.columns * outSize, nil)
            }
        }
    }

    /// Fills two buffers in turn: while the sink writes one, the next block is produced into the other.
    /// The block's CRC-32 is computed here, on every core while the block is still in cache, leaving the
    /// sink's thread only the write.
    private static func produceDoubleBuffered(blocks: [Range<Int>], bytesPerBlock: Int, sink: BlockSink,
                                              produce: (Range<Int>, UnsafeMutableRawBufferPointer) -> Int) throws {
        try produceDoubleBuffered(blocks: blocks, bytesPerBlock: bytesPerBlock, sink: sink) { block, buffer in
            let count = produce(block, buffer)
            let crc = sink.checksums ? CRC32.of(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) : nil
            return [(0..<count, nil, crc)]
        }
    }

    /// As above, where each block's bytes go to one or more (buffer range, file offset, CRC-32) runs; a nil
    /// offset continues the tensor where the previous sequential run ended, a nil CRC is computed by the sink.
    private static func produceDoubleBuffered(blocks: [Range<Int>], bytesPerBlock: Int, sink: BlockSink,
                                              produce: (Range<Int>, UnsafeMutableRawBufferPointer) throws -> [(Range<Int>, Int?, UInt32?)]) throws {
        let buffers = sink.scratch(min(2, blocks.count), bytes: bytesPerBlock)
        let inFlight = buffers.map { _ in DispatchSemaphore(value: 1) }
        for (index, block) in blocks.enumerated() {
            let slot = index % buffers.count
            inFlight[slot].wait()
            let runs: [(Range<Int>, Int?, UInt32?)]
            do {
                runs = try produce(block, buffers[slot].bytes)
            } catch {
                inFlight[slot].signal()
                _ = try? sink.drain()
                throw error
            }
            let release = inFlight[slot]
            for (number, run) in runs.enumerated() {
                let signal: @Sendable () -> Void = { _ = release.signal() }
                let done = number == runs.count - 1 ? signal : nil
                let bytes = UnsafeRawBufferPointer(rebasing: buffers[slot].bytes[run.0])
                sink.write(bytes, at: run.1, crc: run.2, done: done)
            }
            if runs.isEmpty { release.signal() }
        }
        // The queued writes read the buffers: keep them alive (ARC may free them after their last
        // use above) until the sink has drained, and leave every semaphore at its initial value.
        try withExtendedLifetime(buffers) {
            _ = try sink.drain()
            for semaphore in inFlight {
                semaphore.wait()
                semaphore.signal()
            }
        }
    }
}
