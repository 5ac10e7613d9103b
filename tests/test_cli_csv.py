"""CSV input of the command line: the standard csv module over the file itself, so quoted fields may hold
the delimiter, quotes and line breaks; errors still name the line of the file."""
import csv

import numpy as np
import pytest

from fastmlp import FastMLP
from fastmlp.cli import main, read_data
from fastmlp.cli.errors import CLIError


def _write(path, text):
    with open(path, "w", newline="", encoding="utf-8") as fh:  # the bytes as given: \n or \r\n
        fh.write(text)
    return str(path)


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


QUOTED = (
    # header: feature column names with a comma and with a line break, quoted
    '"width, cm","height\n(cm)",label\n'
    '1.5,"2.5",smallblue\n'
    # features quoted, one with a line break around the number; label with an embedded line break
    '"3.5","\n4.5\n","small\nblue"\n'
    # a label with the delimiter, and one with doubled quotes
    '5.5,6.5,"small, blue"\n'
    '7.5,8.5,"the ""blue"" one"\n'
    '9.5,10.5,smallblue\n'
)


def test_quoted_commas_newlines_and_quotes_in_features_and_target(tmp_path):
    path = _write(tmp_path / "q.csv", QUOTED)
    X, y = read_data(path)
    assert X.tolist() == [[1.5, 2.5], [3.5, 4.5], [5.5, 6.5], [7.5, 8.5], [9.5, 10.5]]
    assert list(y) == ["smallblue", "small\nblue", "small, blue", 'the "blue" one', "smallblue"]
    # "small\nblue" is one label, distinct from "smallblue" (the old line splitter merged them)
    assert len(set(y)) == 4
    # header names with a comma and a line break name their columns, for --target and in errors (the
    # header takes lines 1-2, so the second data row starts on line 4)
    path = _write(tmp_path / "n.csv", '"width, cm","height\n(cm)",n\n1.5,"2.5",1\n"3.5","\n4.5\n",2\n')
    X, y = read_data(path, target="height\n(cm)")
    assert y.tolist() == [2.5, 4.5] and X.tolist() == [[1.5, 1], [3.5, 2]]
    X, y = read_data(path, target="width, cm")
    assert y.tolist() == [1.5, 3.5] and X.tolist() == [[2.5, 1], [4.5, 2]]
    path = _write(tmp_path / "e.csv", '"width, cm","height\n(cm)",n\n1.5,"2.5",1\n"3.5","x\n",2\n')
    with pytest.raises(CLIError, match=r"e.csv row 4, 'height\\n\(cm\)': 'x' is not a number"):
        read_data(path)


def test_crlf_tsv_semicolon_and_bom(tmp_path):
    X, y = read_data(_write(tmp_path / "crlf.csv", 'a,b,label\r\n1,2,"x\r\ny"\r\n3,4,z\r\n'))
    assert X.tolist() == [[1, 2], [3, 4]] and list(y) == ["x\r\ny", "z"]
    X, y = read_data(_write(tmp_path / "t.tsv", 'a\tb\tlabel\n1\t2\t"p\tq"\n3\t4\tr\n'))
    assert X.tolist() == [[1, 2], [3, 4]] and list(y) == ["p\tq", "r"]
    X, y = read_data(_write(tmp_path / "s.csv", 'a;b;label\n1;2;"u;v"\n3;4;w\n'))
    assert list(y) == ["u;v", "w"]
    (tmp_path / "bom.csv").write_bytes("\ufeffa,b,label\n1,2,0\n3,4,1\n".encode())
    X, y = read_data(str(tmp_path / "bom.csv"), target="a")
    assert y.tolist() == [1, 3]


def test_blank_and_comment_lines_are_skipped_between_records_only(tmp_path):
    text = ('# a comment, "with an open quote\n'
            "a,b,label\n"
            "\n"
            '1,2,"first line\n'
            "\n"                      # a blank line inside a quoted field is data
            '# not a comment"\n'      # so is a line starting with #
            "   \n"
            "# another comment\n"
            "3,4,plain\n")
    X, y = read_data(_write(tmp_path / "c.csv", text))
    assert X.tolist() == [[1, 2], [3, 4]]
    assert list(y) == ["first line\n\n# not a comment", "plain"]


@pytest.mark.parametrize("text, message", [
    # rows name the line where the record starts, counting every physical line before it
    ('a,b,label\n1,2,"x\ny"\n3,oops,z\n', "row 4, 'b': 'oops' is not a number"),
    ('a,b,label\n1,2,"x\n\ny"\n# c\n3,4\n', "row 6 has 2 columns, expected 3"),
    ('a,b,label\n1,"2\n",x\n3,,y\n', "row 4, 'b': '' is not a number"),
    ('a,b,label\n1,2,x\n3,4,"never closed\n5,6,y\n',
     "row 3: a quoted field is still open at the end of the file"),
    ('a,b,label\n1,2,"x\n', "row 2: a quoted field is still open at the end of the file"),
])
def test_errors_name_the_line_of_the_file(tmp_path, text, message):
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(CLIError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_data(path)


def test_a_nul_byte_after_the_first_block_is_reported(tmp_path):
    # Python < 3.11's csv refuses NUL ("malformed CSV (line contains NUL)"); later ones read it as text
    (tmp_path / "nul.csv").write_bytes(b"a,b,label\n" + b"1,2,0\n" * 1000 + b"3,\x004,1\n")
    with pytest.raises(CLIError, match=r"nul.csv row 1002(: malformed CSV|, 'b': '\\x004' is not a number)"):
        read_data(str(tmp_path / "nul.csv"))


def test_headerless_first_row_with_a_quoted_multiline_label_is_data(tmp_path):
    X, y = read_data(_write(tmp_path / "h.csv", '5.1,3.5,"iris\nsetosa"\n7.0,3.2,versicolor\n'))
    assert X.tolist() == [[5.1, 3.5], [7.0, 3.2]] and list(y) == ["iris\nsetosa", "versicolor"]


def test_train_and_predict_round_trip_with_multiline_labels(tmp_path):
    """The labels come back out of predict as they went in: one CSV field each, line break included."""
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(-3, 0.3, (30, 2)), rng.normal(3, 0.3, (30, 2))]
    labels = np.array(["small\nblue"] * 30 + ["smallblue"] * 30)
    with open(tmp_path / "train.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["x, first", "x\nsecond", "kind"])
        for row, lab in zip(X, labels, strict=True):
            w.writerow([f"{row[0]:.17g}", f"{row[1]:.17g}", lab])
    assert main(["train", str(tmp_path / "train.csv"), "--hidden", "4", "--epochs", "60", "--lr", "0.05",
                 "-q", "-o", str(tmp_path / "m.npz")]) == 0
    m = FastMLP.load(tmp_path / "m.npz")
    assert sorted(m.classes_) == ["small\nblue", "smallblue"]
    assert main(["predict", str(tmp_path / "m.npz"), str(tmp_path / "train.csv"), "--proba", "-q",
                 "-o", str(tmp_path / "p.csv")]) == 0
    header, rows = _read_csv(tmp_path / "p.csv")
    assert header == ["prediction", "p_small\nblue", "p_smallblue"]
    assert [r[0] for r in rows] == list(labels)
