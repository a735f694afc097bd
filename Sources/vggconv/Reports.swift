import Foundation
import FileIO
import VGGCore
import VGGConvKit

// The text the commands print: tables, summaries, conversion reports (the library returns data).

/// Text for `inspect`.
enum InventoryReport {
    /// `{"file": …, "format": …, "tensors": [{name, source_name, dtype, shape, layout, offset, nbytes, crc32}]}`.
    static func json(_ inventory: TensorInventory) throws -> String {
        try JSONOutput.text(inventory)
    }

    /// An aligned table with a totals line.
    static func table(_ inventory: TensorInventory) -> String {
        let header = ["name", "dtype", "shape", "layout", "offset", "bytes", "crc32", "source name"]
        let rows = inventory.tensors.map { t in
            [t.name, t.dtype.rawValue, shapeText(t.shape), t.layout.rawValue,
             t.offset.map(String.init) ?? "-", t.nbytes.formatted(), t.crc32, t.sourceName == t.name ? "" : t.sourceName]
        }
        let total = inventory.tensors.reduce(0) { $0 + $1.nbytes }
        return "\(SafeText.oneLine(inventory.file)) (\(inventory.format)): \(inventory.tensors.count) tensors, \(total.formatted()) bytes\n"
            + TextTable.render(header: header, rows: rows, rightAligned: [4, 5])
    }
}

/// A shape as Python prints a tuple: `(3, 3)`, `(8,)`, `()`.
func shapeText(_ shape: [Int]) -> String {
    shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
}

/// Text for a finished conversion.
enum ConversionReport {
    static func text(_ result: ConversionResult) -> String {
        let header = result.header
        let bytes = header.tensors.reduce(0) { $0 + $1.nbytes }
        var lines = ["wrote \(result.outputPath): \(header.architecture.layers.count) layers, \(header.tensors.count) tensors, \(bytes.formatted()) bytes of weights (from \(header.provenance.sourceFormat))"]
        let transposed = header.provenance.conversions.filter { $0.layout != "identity" }.count
        if transposed > 0 { lines.append("converted layouts of \(transposed) tensors to OIHW / (out, in)") }
        for note in header.provenance.notes { lines.append("note: \(note)") }
        return lines.joined(separator: "\n")
    }
}

/// Column-aligned plain text tables.
/// An aligned text table; every cell is printed with control characters escaped (`SafeText.oneLine`),
/// as its text may come from a file (tensor names, file names).
enum TextTable {
    static func render(header: [String], rows: [[String]], rightAligned: Set<Int> = []) -> String {
        let all = ([header] + rows).map { $0.map(SafeText.oneLine) }
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.indices.map { i in
                let pad = String(repeating: " ", count: widths[i] - row[i].count)
                return rightAligned.contains(i) ? pad + row[i] : row[i] + pad
            }.joined(separator: "  ").trimmingTrailingWhitespace()
        }.joined(separator: "\n")
    }
}

extension Int {
    /// `138357544` → `138,357,544`.
    func formatted() -> String {
        let digits = String(magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (self < 0 ? "-" : "") + out
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
