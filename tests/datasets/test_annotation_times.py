"""annotation_times.json: the annotators' seconds by image, merged on each import; a damaged record is refused."""
import pytest

from segal.data.annotation_times import AnnotationTimes
from segal.errors import InvalidValue


def test_times_merge_with_the_latest_winning(tmp_path):
    times = AnnotationTimes(tmp_path / "annotation_times.json")
    assert times.read() == {}
    times.record({"a.png": 10.0, "b.png": 4})
    times.record({"b.png": 6.5})
    assert times.read() == {"a.png": 10.0, "b.png": 6.5}


@pytest.mark.parametrize("content", ['{"a.png": -1}', '["a.png"]', '{"a.png": "ten"}', '{"a.png": true}', "{half"])
def test_a_damaged_record_is_refused_naming_it(tmp_path, content):
    path = tmp_path / "annotation_times.json"
    path.write_text(content)
    with pytest.raises(InvalidValue, match="annotation_times.json"):
        AnnotationTimes(path).read()
