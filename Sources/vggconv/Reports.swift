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
        // What is not a tensor (a checkpoint's epoch, an ONNX file's producer and op census) follows the table.
        let others = inventory.nonTensors.map { "\n\(SafeText.oneLine($0.name)): \(SafeText.oneLine($0.value))" }.joined()
        return "\(SafeText.oneLine(inventory.file)) (\(inventory.format)): \(inventory.tensors.count) tensors, \(total.formatted()) bytes\n"
            + TextTable.render(header: header, rows: rows, rightAligned: [4, 5]) + others
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

/// What `verify` prints after a failed comparison: the `--explain` report, or a one-line hint.
enum DiagnosisReport {
    /// The candidates under which the comparison passes (or the closest three), each passing one with its fix.
    static func explanation(_ candidates: [Explanation.Candidate]) -> String {
        let passing = candidates.filter(\.passes)
        var lines = [passing.isEmpty
            ? "explain: none of the \(candidates.count) known causes makes it pass; the closest:"
            : "explain: passes when \(passing.count == 1 ? "one cause is" : "\(passing.count) causes are") assumed:"]
        let shown = passing.isEmpty ? Array(candidates.sorted { $0.cosine > $1.cosine }.prefix(3)) : passing
        for candidate in shown {
            let worst = candidate.verification.samples.map(\.maxRelativeError).max() ?? .nan
            lines.append(String(format: "  %@  %@ (worst relative error %.2e, cosine %.6f)", candidate.passes ? "PASS" : "fail",
                                candidate.cause.description, worst, candidate.cosine))
            guard candidate.passes else { continue }
            lines.append("        fix: " + (candidate.cause.remedy.map { "\(flags($0)), or \(candidate.cause.fix)" } ?? candidate.cause.fix))
        }
        let rest = candidates.filter { c in !shown.contains { $0.cause == c.cause } }
        if !rest.isEmpty {
            lines.append("  (\(rest.count) other candidate\(rest.count == 1 ? "" : "s") tried: \(rest.map(\.cause.description).joined(separator: "; ")))")
        }
        return lines.joined(separator: "\n")
    }

    /// A hint for a cause the outputs alone show.
    static func hint(_ cause: MismatchCause) -> String {
        switch cause {
        case .goldenHoldsLogits: return "hint: the model ends in softmax and the golden looks like logits: try --logits (or --explain)"
        case .goldenHoldsProbabilities:
            return "hint: the golden looks like probabilities and the model outputs logits: compare with the framework's logits (or --explain)"
        default: return "hint: \(cause) (--explain tries every known cause)"
        }
    }

    /// A hint for a 16-bit model against float32 goldens; its last word is the tolerance that passes.
    static func hint(_ loss: Explanation.PrecisionLoss) -> String {
        String(format: "hint: the model stores %@ weights, and rounding float32 weights to 16 bits costs about this much "
               + "(worst %.2e of max|golden|, top-5 identical): against float32 goldens %@", loss.storedDType.rawValue,
               loss.worstRelativeError, flags(loss.remedy))
    }
}
