//! The account dialog: change the display name or the password, or delete the account.

use super::{labelled, message_frame, Action, Msg, Rect};
use fltk::app::Sender;
use fltk::button::Button;
use fltk::enums::Color;
use fltk::frame::Frame;
use fltk::input::{Input, SecretInput};
use fltk::prelude::*;
use fltk::window::Window;
use rust_i18n::t;

/// The dialog's size.
pub const SIZE: (i32, i32) = (480, 520);
/// The display name input.
pub const NAME: Rect = (20, 36, 290, 28);
/// The Change name button.
pub const SET_NAME: Rect = (320, 34, 140, 32);
/// The current password input.
pub const OLD: Rect = (20, 104, 440, 28);
/// The new password input.
pub const NEW: Rect = (20, 158, 440, 28);
/// The new-password-again input.
pub const AGAIN: Rect = (20, 212, 440, 28);
/// The Change password button.
pub const PASSWD: Rect = (20, 248, 440, 32);
/// The password confirming deletion.
pub const DELETE_PASSWORD: Rect = (20, 318, 440, 28);
/// The Delete account button.
pub const DELETE: Rect = (20, 354, 440, 32);
/// The Close button.
pub const CLOSE: Rect = (20, 400, 440, 32);
/// Where errors and confirmations show.
pub const ERROR: Rect = (20, 440, 440, 70);

/// The dialog's widgets.
pub struct AccountDialog {
    /// The window.
    pub window: Window,
    /// The display name.
    pub name: Input,
    set_name: Button,
    /// The current password.
    pub old: SecretInput,
    /// The new password.
    pub new: SecretInput,
    /// The new password again.
    pub again: SecretInput,
    passwd: Button,
    /// The password that confirms deletion.
    pub delete_password: SecretInput,
    delete: Button,
    close: Button,
    /// Errors and confirmations.
    pub error: Frame,
}

impl AccountDialog {
    /// Builds the dialog, hidden.
    pub fn build(sender: Sender<Msg>) -> AccountDialog {
        let mut window = Window::new(260, 100, SIZE.0, SIZE.1, None);
        window.set_xclass("joint-gui");
        let button = |r: Rect, action: Action| {
            let mut b = Button::new(r.0, r.1, r.2, r.3, None);
            b.emit(sender, Msg::Ui(action));
            b
        };
        let name = labelled(Input::new(NAME.0, NAME.1, NAME.2, NAME.3, None));
        let set_name = button(SET_NAME, Action::SetName);
        let old = labelled(SecretInput::new(OLD.0, OLD.1, OLD.2, OLD.3, None));
        let new = labelled(SecretInput::new(NEW.0, NEW.1, NEW.2, NEW.3, None));
        let again = labelled(SecretInput::new(AGAIN.0, AGAIN.1, AGAIN.2, AGAIN.3, None));
        let passwd = button(PASSWD, Action::ChangePassword);
        let delete_password = labelled(SecretInput::new(
            DELETE_PASSWORD.0,
            DELETE_PASSWORD.1,
            DELETE_PASSWORD.2,
            DELETE_PASSWORD.3,
            None,
        ));
        let mut delete = button(DELETE, Action::DeleteAccount);
        delete.set_label_color(Color::from_rgb(0xb0, 0x00, 0x20));
        let close = button(CLOSE, Action::CloseDialog);
        let error = message_frame(ERROR);
        window.end();
        window.emit(sender, Msg::Ui(Action::CloseDialog));
        let mut this =
            AccountDialog { window, name, set_name, old, new, again, passwd, delete_password, delete, close, error };
        this.relabel();
        this
    }

    /// Sets every label from the current language.
    pub fn relabel(&mut self) {
        self.window.set_label(&t!("gui.account.title"));
        self.name.set_label(&t!("gui.signup.name"));
        self.set_name.set_label(&t!("gui.account.set_name"));
        self.old.set_label(&t!("gui.account.old"));
        self.new.set_label(&t!("gui.account.new"));
        self.again.set_label(&t!("gui.signup.again"));
        self.passwd.set_label(&t!("gui.account.passwd"));
        self.delete_password.set_label(&t!("gui.account.delete_password"));
        self.delete.set_label(&t!("gui.account.delete"));
        self.close.set_label(&t!("gui.close"));
        self.window.redraw();
    }

    /// Opens the dialog with the current name filled in and the passwords empty.
    pub fn open(&mut self, name: &str) {
        self.name.set_value(name);
        for input in [&mut self.old, &mut self.new, &mut self.again, &mut self.delete_password] {
            input.set_value("");
        }
        self.error.set_label("");
        self.window.show();
    }
}
