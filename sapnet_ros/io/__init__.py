"""Files and messages: image files, sensor_msgs conversions, rosbags, atomic writes."""
