import Foundation
import FileIO
import VGGCore

/// Renders a `ModelSummary` the way Keras prints `model.summary()`.
enum SummaryReport {
    /// Which Keras generation's layout to imitate.
    enum Style: String, CaseIterable, Sendable {
        /// Keras 3: a box-drawn table, thousands separators, sizes in B/KB/MB.
        case keras3
        /// tf-keras / Keras 2: the plain table, bare numbers, sizes in Byte/KB/MB.
        case keras2
    }

    /// `expand` lists the layers inside nested models (Keras's `expand_nested=True`); without it
    /// each nested model is one row.
    static func text(_ summary: ModelSummary, style: Style, expand: Bool = false) -> String {
        // Names come from the file: a newline or an escape sequence in one would forge rows.
        var shown = summary
        shown.modelName = SafeText.oneLine(summary.modelName)
        for index in shown.rows.indices {
            shown.rows[index].name = SafeText.oneLine(summary.rows[index].name)
            shown.rows[index].sourceName = SafeText.oneLine(summary.rows[index].sourceName)
            shown.rows[index].scopes = summary.rows[index].scopes.map { ModelScope(name: SafeText.oneLine($0.name), className: $0.className) }
        }
        return style == .keras3 ? keras3(shown, expand: expand) : keras2(shown, expand: expand)
    }

    /// The style of the Keras that wrote `format` (a reader's format tag): tf-keras's plain table for
    /// Keras 1/2 files, Keras 3's box-drawn one for everything else.
    static func style(forFormat format: String) -> Style {
        format.hasPrefix("keras1") || format.hasPrefix("keras2") ? .keras2 : .keras3
    }

    /// The rows to print, each with the depth of nesting it is shown at.
    static func printedRows(_ s: ModelSummary, expand: Bool) -> [(row: ModelSummary.Row, depth: Int)] {
        guard expand else { return s.topLevelRows.map { ($0, 0) } }
        var result: [(row: ModelSummary.Row, depth: Int)] = []
        var open: [ModelScope] = []
        for row in s.rows {
            // Keep the common prefix of scopes; a scope newly entered gets its own row first.
            var common = 0
            while common < min(open.count, row.scopes.count), open[common] == row.scopes[common] { common += 1 }
            open = Array(open.prefix(common))
            for scope in row.scopes.dropFirst(common) {
                let members = s.rows.filter { $0.scopes.starts(with: open + [scope]) }
                var summary = members.last ?? row
                (summary.name, summary.type, summary.sourceName, summary.canonicalName) = (scope.name, scope.className, scope.name, scope.name)
                summary.params = members.reduce(0) { $0 + $1.params }
                summary.scopes = open + [scope]
                result.append((summary, open.count))
                open.append(scope)
            }
            result.append((row, row.scopes.count))
        }
        return result
    }

    static func json(_ summary: ModelSummary) throws -> String {
        try JSONOutput.text(summary)
    }

    static func shapeText(_ shape: [Int?]) -> String {
        "(" + shape.map { $0.map(String.init) ?? "None" }.joined(separator: ", ") + (shape.count == 1 ? ",)" : ")")
    }

    /// Keras's `readable_memory_size`: divide by 1024 while at least 1024.
    static func memory(_ bytes: Int, units: [String]) -> String {
        var value = Double(bytes)
        for unit in units.dropLast() {
            if value / 1024 < 1 { return String(format: "%.2f %@", value, unit) }
            value /= 1024
        }
        return String(format: "%.2f %@", value, units.last!)
    }

    // MARK: Keras 3

    private static func keras3(_ s: ModelSummary, expand: Bool) -> String {
        var header = ["Layer (type)", "Output Shape", "Param #"]
        let printed = printedRows(s, expand: expand)
        // Keras 3 marks a nested model's layers with "└ ", indented three spaces per level.
        var rows = printed.map { row, depth in
            [String(repeating: "   ", count: depth) + (depth > 0 ? "└ " : "") + "\(row.name) (\(row.type))",
             shapeText(row.outputShape), row.params.formatted()]
        }
        if s.showsSourceColumn {
            header.append(s.sourceColumnTitle)
            for i in rows.indices { rows[i].append(printed[i].row.sourceName) }
        }
        // Keras 3 renders an 88-column table whose cells are 36, 27 and 15 characters wide and wraps
        // longer text inside its cell; an extra PyTorch column is sized to its content.
        var widths = [36, 27, 15]
        if s.showsSourceColumn { widths.append(max(header[3].count, rows.map { $0[3].count }.max() ?? 0)) }
        let rightAligned = 2
        func line(_ left: String, _ fill: String, _ middle: String, _ right: String) -> String {
            left + widths.map { String(repeating: fill, count: $0 + 2) }.joined(separator: middle) + right
        }
        func cells(_ values: [String], _ bar: String) -> [String] {
            let wrapped = values.enumerated().map { wrap($1, width: widths[$0]) }
            let height = wrapped.map(\.count).max() ?? 1
            return (0..<height).map { lineIndex in
                bar + wrapped.enumerated().map { i, lines in
                    let v = lineIndex < lines.count ? lines[lineIndex] : ""
                    let pad = String(repeating: " ", count: max(0, widths[i] - v.count))
                    return " " + (i == rightAligned ? pad + v : v + pad) + " "
                }.joined(separator: bar) + bar
            }
        }
        var out = ["Model: \"\(s.modelName)\"", line("┏", "━", "┳", "┓")] + cells(header, "┃") + [line("┡", "━", "╇", "┩")]
        for (i, row) in rows.enumerated() {
            if i > 0 { out.append(line("├", "─", "┼", "┤")) }
            out += cells(row, "│")
        }
        out.append(line("└", "─", "┴", "┘"))
        let units = ["B", "KB", "MB", "GB", "TB", "PB"]
        // Keras 3 counts the optimizer's variables in the total and lists them on a line of their own.
        let optimizer = s.optimizer ?? ModelSummary.OptimizerState(params: 0, bytes: 0)
        out.append(" Total params: \((s.totalParams + optimizer.params).formatted()) (\(memory(s.totalParamBytes + optimizer.bytes, units: units)))")
        out.append(" Trainable params: \(s.trainableParams.formatted()) (\(memory(s.trainableParamBytes, units: units)))")
        out.append(" Non-trainable params: \(s.nonTrainableParams.formatted()) (\(memory(s.nonTrainableParamBytes, units: units)))")
        if let state = s.optimizer { out.append(" Optimizer params: \(state.params.formatted()) (\(memory(state.bytes, units: units)))") }
        out.append("")  // Keras 3 prints the captured table with a final newline of its own
        return out.joined(separator: "\n")
    }

    /// Greedy word wrap as rich does it: break at spaces, fold words longer than the width.
    static func wrap(_ text: String, width: Int) -> [String] {
        guard text.count > width else { return [text] }
        var lines: [String] = [], current = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: false).map(String.init) {
            var word = word
            if current.isEmpty == false, current.count + 1 + word.count <= width {
                current += " " + word
                continue
            }
            if !current.isEmpty { lines.append(current); current = "" }
            while word.count > width {
                lines.append(String(word.prefix(width)))
                word = String(word.dropFirst(width))
            }
            current = word
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }

    // MARK: tf-keras

    private static func keras2(_ s: ModelSummary, expand: Bool) -> String {
        var positions = [29, 55, 65]
        var header = ["Layer (type)", "Output Shape", "Param #"]
        if s.showsSourceColumn {
            // Param # is no longer the last column: widen it so that 9-digit counts still fit.
            positions[2] = 68
            positions.append(68 + max(16, (s.rows.map(\.sourceName.count).max() ?? 0) + 2))
            header.append(s.sourceColumnTitle)
        }
        let width = positions.last!
        var out = ["Model: \"\(s.modelName)\"", String(repeating: "_", count: width)]
        out += row(header, positions)
        out.append(String(repeating: "=", count: width))
        // Nested models (expand) open with a |¯¯¯| line and close with a ¯¯¯ line, their rows framed by one
        // bar per level. No blank line follows a model's last row, nor (a quirk of tf-keras's loop
        // variable) a nested model's block.
        func framed(_ fill: String, _ level: Int, inner: Int) -> String {
            String(repeating: "|", count: level) + String(repeating: fill, count: width - 2 * inner) + String(repeating: "|", count: level)
        }
        let printed = printedRows(s, expand: expand)
        for (index, (r, depth)) in printed.enumerated() {
            // tf-keras prints an InputLayer's shape as a list of one shape.
            let shape = r.type == LayerType.input.rawValue ? "[\(shapeText(r.outputShape))]" : shapeText(r.outputShape)
            out += row(["\(r.name) (\(r.type))", shape, String(r.params)] + (s.showsSourceColumn ? [r.sourceName] : []), positions,
                       nestedLevel: depth)
            let opensModel = r.scopes.count == depth + 1 && index + 1 < printed.count && printed[index + 1].depth > depth
            if opensModel {
                out.append(framed("¯", depth + 1, inner: depth + 1))
                continue
            }
            let next = index + 1 < printed.count ? printed[index + 1].depth : 0
            if next < depth {
                for level in stride(from: depth - 1, through: next, by: -1) { out.append(framed("¯", level, inner: level)) }
            } else {
                out.append(framed(" ", depth, inner: depth))
            }
        }
        out.append(String(repeating: "=", count: width))
        let units = ["Byte", "KB", "MB", "GB", "TB", "PB"]
        out.append("Total params: \(s.totalParams) (\(memory(s.totalParamBytes, units: units)))")
        out.append("Trainable params: \(s.trainableParams) (\(memory(s.trainableParamBytes, units: units)))")
        out.append("Non-trainable params: \(s.nonTrainableParams) (\(memory(s.nonTrainableParamBytes, units: units)))")
        out.append(String(repeating: "_", count: width))
        return out.joined(separator: "\n")
    }

    /// tf-keras's `print_row`: each field cut to its column (wrapping onto further lines), a space
    /// before the first column, two between columns, padded to the next position; inside a nested model
    /// the first column is `nestedLevel` narrower and the line framed by that many bars.
    private static func row(_ fields: [String], _ positions: [Int], nestedLevel: Int = 0) -> [String] {
        var left = fields.map { Array($0) }
        var lines: [String] = []
        let bars = String(repeating: "|", count: nestedLevel)
        while left.contains(where: { !$0.isEmpty }) {
            var line = ""
            for column in left.indices {
                let start = column > 0 ? positions[column - 1] : 0
                let last = column == positions.count - 1
                let space = last ? 0 : 2
                let cutoff = positions[column] - start - space - (last ? 0 : 1) - (column == 0 ? nestedLevel : 0)
                let fit = left[column].prefix(max(0, cutoff))
                if column == 0 { line += bars + " " }
                line += String(fit) + String(repeating: " ", count: space)
                left[column] = Array(left[column].dropFirst(fit.count))
                let target = positions[column] - (nestedLevel > 0 && last ? nestedLevel : 0)
                line += String(repeating: " ", count: max(0, target - line.count))
            }
            lines.append(line + bars)
        }
        return lines
    }
}
