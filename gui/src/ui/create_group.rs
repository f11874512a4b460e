//! The new-group dialog: a name and the first members.

use super::{labelled, message_frame, Action, Msg, Rect};
use fltk::app::Sender;
use fltk::button::Button;
use fltk::frame::Frame;
use fltk::input::Input;
use fltk::prelude::*;
use fltk::window::Window;
use rust_i18n::t;

/// The dialog's size.
pub const SIZE: (i32, i32) = (460, 240);
/// The group name input.
pub const NAME: Rect = (20, 36, 420, 28);
/// The members input.
pub const MEMBERS: Rect = (20, 96, 420, 28);
/// The Create button.
pub const CREATE: Rect = (20, 140, 205, 34);
/// The Cancel button.
pub const CANCEL: Rect = (235, 140, 205, 34);
/// Where errors show.
pub const ERROR: Rect = (20, 184, 420, 48);

/// The dialog's widgets.
pub struct CreateGroupDialog {
    /// The window.
    pub window: Window,
    /// The group's name.
    pub name: Input,
    /// Comma-separated logins.
    pub members: Input,
    create: Button,
    cancel: Button,
    /// Errors.
    pub error: Frame,
}

impl CreateGroupDialog {
    /// Builds the dialog, hidden.
    pub fn build(sender: Sender<Msg>) -> CreateGroupDialog {
        let mut window = Window::new(200, 160, SIZE.0, SIZE.1, None);
        window.set_xclass("joint-gui");
        let name = labelled(Input::new(NAME.0, NAME.1, NAME.2, NAME.3, None));
        let members = labelled(Input::new(MEMBERS.0, MEMBERS.1, MEMBERS.2, MEMBERS.3, None));
        let mut create = Button::new(CREATE.0, CREATE.1, CREATE.2, CREATE.3, None);
        create.emit(sender, Msg::Ui(Action::CreateGroup));
        let mut cancel = Button::new(CANCEL.0, CANCEL.1, CANCEL.2, CANCEL.3, None);
        cancel.emit(sender, Msg::Ui(Action::CloseDialog));
        let error = message_frame(ERROR);
        window.end();
        window.emit(sender, Msg::Ui(Action::CloseDialog));
        let mut this = CreateGroupDialog { window, name, members, create, cancel, error };
        this.relabel();
        this
    }

    /// Sets every label from the current language.
    pub fn relabel(&mut self) {
        self.window.set_label(&t!("gui.create.title"));
        self.name.set_label(&t!("gui.create.name"));
        self.members.set_label(&t!("gui.create.members"));
        self.create.set_label(&t!("gui.create.create"));
        self.cancel.set_label(&t!("gui.cancel"));
        self.window.redraw();
    }

    /// Opens the dialog empty.
    pub fn open(&mut self) {
        self.name.set_value("");
        self.members.set_value("");
        self.error.set_label("");
        self.window.show();
    }
}
