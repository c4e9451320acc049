"""stackdeck's terminal console (Textual); it talks to the backend only over HTTP."""
